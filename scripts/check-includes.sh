#!/usr/bin/env bash
# Fails when an #include points up a layer (docs/architecture.md). The layers, bottom up:
#
#   base     errors, dtypes, shapes and the small option structs kernels take
#   kernels  the arithmetic, on raw pointers (cpu/, cuda/)
#   core     Tensor, autograd, the op API (the one place that picks kernels)
#   layers   modules, losses, optimisers          data  datasets, augmentation, DataLoader
#   models   resnet18
#   apps     the programs and their shared code (apps/common)
#
# Each folder may include itself and the folders listed for it below; config.h (generated) is
# allowed everywhere. Headers of layers, models and data may not include kernels/, so nothing
# above core sees a kernel type; data's sources may (the loader warps raw image bytes on the
# CPU in its own threads, with no tensor in between). bench/, tests/, tools/ and examples/ sit
# beside the product and may include anything.
#
#   scripts/check-includes.sh [source root]      exit 0 when clean, 1 with one line per offence
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

allowed() {  # folder, is_header -> space-separated folders it may include
  case "$1" in
    base) echo "base" ;;
    kernels) echo "base kernels" ;;
    core) echo "base kernels core" ;;
    layers) echo "base core layers" ;;
    models) echo "base core layers models" ;;
    data) if [[ $2 == 1 ]]; then echo "base core data"; else echo "base core kernels data"; fi ;;
    apps) echo "base core layers models data apps" ;;
  esac
}

bad=0
checked=0
for dir in base kernels core layers models data apps; do
  [[ -d $dir ]] || continue
  while IFS= read -r file; do
    checked=$((checked + 1))
    header=0
    [[ $file == *.h || $file == *.cuh ]] && header=1
    ok=" $(allowed "$dir" "$header") "
    # Project includes only: "minidl/<folder>/..." or <minidl/<folder>/...>. Anything else (system,
    # CUDA, config.h) passes.
    while IFS=: read -r line target; do
      folder=${target#minidl/}
      folder=${folder%%/*}
      if [[ $ok != *" $folder "* ]]; then
        echo "check-includes: $file:$line includes $target: $dir/ may include only $(allowed "$dir" "$header" | sed 's/[a-z][a-z]*/&\//g')" >&2
        bad=$((bad + 1))
      fi
    done < <(grep -no '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]minidl/[a-z_]*/[^">]*[">]' "$file" |
      sed 's/:[^"<]*[<"]/:/; s/[">]$//')
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -print)
done
if ((bad > 0)); then
  echo "check-includes: $bad include(s) point up a layer (scripts/check-includes.sh says which way the arrows go)" >&2
  exit 1
fi
echo "check-includes: $checked files, every include points down"

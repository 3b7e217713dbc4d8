#!/usr/bin/env bash
# Kills one rank of a data-parallel training job, as a crash or the OOM killer would, and reports
# how the job ended (tests/distributed/test_distributed.cpp).
#   kill_rank.sh RANK RUN_DIR COMMAND...
# Starts COMMAND (an mpirun line) in the background, waits for RUN_DIR/train_state.safetensors
# (the first epoch's checkpoint), sends SIGKILL to the process of rank RANK (found among the job's
# own descendants by OMPI_COMM_WORLD_RANK, never by name), waits for the job to end, and prints
# the job's output and "job ended S s after the kill". Exits non-zero if the job ended on its own,
# never ended within 120 s, or the rank could not be found.
set -u
rank="$1"
dir="$2"
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bash -c "$*" >"$log" 2>&1 &
job=$!

descendants() {
  local p
  for p in $(pgrep -P "$1"); do
    echo "$p"
    descendants "$p"
  done
}

for ((i = 0; i < 1500; ++i)); do
  [[ -e "$dir/train_state.safetensors" ]] && break
  if ! kill -0 "$job" 2>/dev/null; then
    cat "$log"
    echo "kill_rank: the job ended before its first checkpoint"
    exit 1
  fi
  sleep 0.2
done
[[ -e "$dir/train_state.safetensors" ]] || { cat "$log"; echo "kill_rank: no checkpoint after 300 s"; kill -9 "$job"; exit 1; }

victim=""
for p in $(descendants "$job"); do
  if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank"; then
    victim="$p"
    break
  fi
done
if [[ -z "$victim" ]]; then
  cat "$log"
  echo "kill_rank: no process of rank $rank among the job's descendants"
  kill -9 "$job"
  exit 1
fi
kill -9 "$victim"
start=$(date +%s.%N)
for ((i = 0; i < 1200; ++i)); do
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$job" 2>/dev/null; then
  cat "$log"
  echo "kill_rank: the job still runs 120 s after rank $rank was killed"
  for p in $(descendants "$job"); do kill -9 "$p" 2>/dev/null; done
  kill -9 "$job"
  exit 1
fi
wait "$job"
rc=$?
end=$(date +%s.%N)
cat "$log"
echo "kill_rank: killed rank $rank (pid $victim); the job exited with status $rc"
echo "job ended $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s after the kill"
((rc != 0)) || { echo "kill_rank: the job exited 0 after losing a rank"; exit 1; }

#!/usr/bin/env python3
"""Runs bench_train (minidl) and pytorch_reference.py (PyTorch) in one run, interleaved, and
prints each figure side by side with the ratio minidl / PyTorch.

  /usr/bin/python3 bench/compare_pytorch.py [--build build] [--reps 3] [--threads N]
        [--modes train,infer,latency] [--batch 64,256] [--steps 10] [--device cpu|cuda]
        [--precisions fp32,bf16] [--channels-last-amp on|off] [--json-out FILE]
        [--python /usr/bin/python3[,/opt/torch-pypi/bin/python]]

--python takes one or more interpreters, each with its own torch and torchvision: Debian's
PyTorch 1.13 (/usr/bin/python3, the default) and the current release from PyPI
(bench/install-pytorch-pypi.sh puts it in /opt/torch-pypi). Each is a column of its own,
named by its version, and minidl is compared with each.

The precision axis: minidl runs bench_train --precision fp32 and bf16 (its autocast policy,
core/precision.h); PyTorch runs eager FP32 and torch.autocast(dtype=torch.bfloat16). Each
configuration prints every side's median and the ratio of each minidl precision to each
PyTorch precision (the table issue 22 asks for).

Why interleaved: on a shared or frequency-scaling machine the speed of the cores drifts by
tens of percent within minutes, so only figures taken close together compare. Each
configuration (mode, batch) runs as its own process for each framework and precision, one
after the other, in an order that rotates and reverses from one repetition to the next, so
that drift hits all alike and the memory figures belong to that configuration alone. The
ratio of each pair within a repetition is taken, and the median over the repetitions is
reported with its range.

Fair settings: both get the same thread count (OMP_NUM_THREADS and the programs' --threads).
PyTorch's process gets glibc malloc tuned (GLIBC_TUNABLES below): by default glibc serves
every allocation above 32 MiB (and, after the dynamic threshold adapts, most large tensors)
with a fresh mmap and returns it on free, so every training step would page-fault its
activations in again; PyTorch's CPU allocator has no cache of its own. minidl runs with no
tuning: its caching allocator and scratch buffers already reuse memory, and its defaults are
what a user gets.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# mmap_max=0: never mmap (glibc ignores an mmap_threshold above 32 MiB, and batch-256 tensors
# are larger), so large blocks come from the heap and are reused; trim_threshold and top_pad
# large: freed memory at the top of the heap is kept rather than given back on every step.
TUNED_MALLOC = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184:glibc.malloc.top_pad=268435456"


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.stderr.write("failed (%d): %s\n%s\n" % (out.returncode, " ".join(cmd), out.stderr[-2000:]))
        return []
    rows = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="minidl build folder (has bench/bench_train)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="default: OMP_NUM_THREADS or all cores")
    p.add_argument("--modes", default="train,infer,latency")
    p.add_argument("--batch", default="64,256")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--python", default="/usr/bin/python3",
                   help="the Python(s) that have torch and torchvision, comma-separated: one column each")
    p.add_argument("--precisions", default="fp32,bf16",
                   help="fp32 and/or bf16: minidl's --precision and PyTorch eager (fp32) or bf16 autocast")
    p.add_argument("--channels-last-amp", default="on", choices=["on", "off"],
                   help="PyTorch's bf16 autocast runs in channels_last (on) or NCHW (off)")
    p.add_argument("--json-out", default="", help="also write every run and the summary here")
    args = p.parse_args()

    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count()
    bench_train = os.path.join(args.build, "bench", "bench_train")
    if not os.path.exists(bench_train):
        sys.exit("no %s: build minidl first (cmake --build %s)" % (bench_train, args.build))

    base_env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    base_env.pop("GLIBC_TUNABLES", None)
    torch_env = dict(base_env, GLIBC_TUNABLES=TUNED_MALLOC)

    configs = []
    for mode in [m for m in args.modes.split(",") if m]:
        if mode == "latency":
            configs.append(("latency", 1))
        else:
            configs += [(mode, int(b)) for b in args.batch.split(",") if b]

    precisions = [q for q in args.precisions.split(",") if q]
    for q in precisions:
        if q not in ("fp32", "bf16"):
            sys.exit("--precisions: expected fp32 and/or bf16, got '%s'" % q)
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(threads),
              "--device", args.device, "--json"]

    def minidl(mode, batch, precision):
        return run_json([bench_train, "--mode", mode, "--batch", str(batch), "--precision", precision] + common,
                        base_env)

    pythons = [x for x in args.python.split(",") if x]
    versions = {}
    for py in pythons:
        out = subprocess.run([py, "-c", "import torch, torchvision; print(torch.__version__)"], env=torch_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            sys.exit("--python %s: cannot import torch and torchvision:\n%s" % (py, out.stderr[-1000:]))
        versions[py] = ".".join(out.stdout.strip().split("+")[0].split(".")[:2])  # "1.13", "2.15"

    def pytorch(python, mode, batch, precision):
        # PyTorch's bf16 is its autocast (the "amp" variant of pytorch_reference.py).
        return run_json([python, os.path.join(HERE, "pytorch_reference.py"), "--mode", mode, "--batch",
                         str(batch), "--variants", "amp" if precision == "bf16" else "eager",
                         "--channels-last-amp", args.channels_last_amp] + common, torch_env)

    # One "side" per framework (each PyTorch interpreter its own) and precision; every side runs
    # once per configuration and repetition, in an order that rotates from one repetition to the
    # next.
    sides = [("minidl", q, None) for q in precisions] + [("pytorch", q, py) for py in pythons for q in precisions]

    def run_side(side, mode, batch):
        if side[0] == "minidl":
            return minidl(mode, batch, side[1])
        return pytorch(side[2], mode, batch, side[1])

    def side_name(side):
        return "minidl %s" % side[1] if side[0] == "minidl" else "PyTorch %s %s" % (versions[side[2]], side[1])

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print("compare_pytorch  (%s)" % time.strftime("%Y-%m-%d %H:%M"))
    print("machine: %s, %d logical CPUs online; load average at start %s" % (cpu, os.cpu_count(),
                                                                          " ".join("%.2f" % v for v in os.getloadavg())))
    print("minidl (%s) vs PyTorch (%s), %s, %d threads, %d repetitions, interleaved; precisions %s"
          % (bench_train, ", ".join("%s at %s" % (versions[py], py) for py in pythons), args.device, threads,
             args.reps, ",".join(precisions)))
    print("PyTorch runs with GLIBC_TUNABLES=%s; its bf16 is torch.autocast(dtype=torch.bfloat16)%s"
          % (TUNED_MALLOC, " with channels_last" if args.channels_last_amp == "on" else " on NCHW"))
    sys.stdout.flush()

    runs = {c: {s: [] for s in sides} for c in configs}
    for rep in range(args.reps):
        for c in configs:
            k = rep % len(sides)
            order = sides[k:] + sides[:k]
            if rep % 2:
                order.reverse()
            for side in order:
                rows = run_side(side, c[0], c[1])
                runs[c][side].append(rows[0] if rows else None)
            key = "ms_per_step_median" if c[0] == "latency" else "images_per_sec"
            print("  rep %d %-7s batch %3d: %s %s" % (
                rep + 1, c[0], c[1], "  ".join("%s %.2f" % (side_name(sd), runs[c][sd][-1][key]) if runs[c][sd][-1]
                                               else "%s failed" % side_name(sd) for sd in sides),
                "ms" if c[0] == "latency" else "images/s"))
            sys.stdout.flush()

    print()
    print("load average at the end: %s (other processes on the machine slow both alike, but add noise)"
          % " ".join("%.2f" % v for v in os.getloadavg()))
    print("%-26s" % "figure" + "".join("%20s" % side_name(sd) for sd in sides))
    summary = []
    for c in configs:
        if c[0] == "latency":
            key, unit, better = "ms_per_step_median", "ms", "lower is better"
        else:
            key, unit, better = "images_per_sec", "img/s", "higher is better"
        label = "%s batch %d (%s)" % (c[0], c[1], unit)
        med = {}
        for sd in sides:
            got = [r[key] for r in runs[c][sd] if r]
            med[sd] = statistics.median(got) if got else None
        print("%-26s" % label + "".join("%20s" % ("%.2f" % med[sd] if med[sd] else "failed") for sd in sides))
        mib = 1024.0 * 1024.0
        rss = {sd: max((r["max_rss_bytes"] for r in runs[c][sd] if r), default=0) / mib for sd in sides}
        print("%-26s" % "  max RSS (MiB)" + "".join("%20.1f" % rss[sd] for sd in sides))
        # The precision table: each minidl precision against each PyTorch one, as the median of
        # the per-repetition ratios (figures taken minutes apart, interleaved) with their range.
        entry = {"mode": c[0], "batch": c[1], "unit": unit, "medians": {side_name(sd): med[sd] for sd in sides},
                 "max_rss_mib": {side_name(sd): rss[sd] for sd in sides}, "ratios": {}}
        for qm in precisions:
            for theirs in [sd for sd in sides if sd[0] == "pytorch"]:
                a, b = runs[c][("minidl", qm, None)], runs[c][theirs]
                pairs = [x[key] / y[key] for x, y in zip(a, b) if x and y]
                if not pairs:
                    continue
                name = "minidl %s / %s" % (qm, side_name(theirs))
                print("  %-40s %8.3f  [%.3f..%.3f] %s" % (name, statistics.median(pairs), min(pairs), max(pairs), better))
                entry["ratios"][name] = {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs),
                                         "pairs": len(pairs)}
        summary.append(entry)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"threads": threads, "device": args.device, "reps": args.reps, "tuned_malloc": TUNED_MALLOC,
                       "precisions": precisions, "load_average_end": os.getloadavg(),
                       "runs": [{"mode": c[0], "batch": c[1], **{side_name(sd): runs[c][sd] for sd in sides}}
                                for c in configs], "summary": summary}, f, indent=1)

if __name__ == "__main__":
    main()

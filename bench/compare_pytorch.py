#!/usr/bin/env python3
"""Runs bench_train (minidl) and pytorch_reference.py (PyTorch) in one run, interleaved, and
prints each figure side by side with the ratio minidl / PyTorch.

  /usr/bin/python3 bench/compare_pytorch.py [--build build] [--reps 3] [--threads N]
        [--modes train,infer,latency] [--batch 64,256] [--steps 10] [--device cpu|cuda]
        [--json-out FILE]

Why interleaved: on a shared or frequency-scaling machine the speed of the cores drifts by
tens of percent within minutes, so only figures taken close together compare. Each
configuration (mode, batch) runs as its own process for each framework, one after the other
(minidl, PyTorch, then PyTorch, minidl on the next repetition, and so on), so that drift hits
both alike and the memory figures belong to that configuration alone. The ratio of each pair
is taken, and the median over the repetitions is reported with its range, together with each
side's fastest step over all repetitions (what it reaches when the machine leaves it alone).

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
    p.add_argument("--python", default="/usr/bin/python3", help="the Python that has torch and torchvision")
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

    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(threads),
              "--device", args.device, "--json"]

    def minidl(mode, batch):
        return run_json([bench_train, "--mode", mode, "--batch", str(batch)] + common, base_env)

    def pytorch(mode, batch):
        return run_json([args.python, os.path.join(HERE, "pytorch_reference.py"), "--mode", mode, "--batch",
                         str(batch), "--variants", "eager"] + common, torch_env)

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print("compare_pytorch  (%s)" % time.strftime("%Y-%m-%d %H:%M"))
    print("machine: %s, %d logical CPUs online; load average at start %s" % (cpu, os.cpu_count(),
                                                                          " ".join("%.2f" % v for v in os.getloadavg())))
    print("minidl (%s) vs PyTorch (%s), %s, %d threads, %d repetitions, interleaved"
          % (bench_train, args.python, args.device, threads, args.reps))
    print("PyTorch runs with GLIBC_TUNABLES=%s" % TUNED_MALLOC)
    sys.stdout.flush()

    runs = {c: {"minidl": [], "pytorch": []} for c in configs}
    for rep in range(args.reps):
        for c in configs:
            order = [("minidl", minidl), ("pytorch", pytorch)]
            if rep % 2:
                order.reverse()
            for name, fn in order:
                rows = fn(*c)
                if rows:
                    runs[c][name].append(rows[0])
            m, t = runs[c]["minidl"], runs[c]["pytorch"]
            if m and t and len(m) == rep + 1 and len(t) == rep + 1:
                key = "ms_per_step_median" if c[0] == "latency" else "images_per_sec"
                print("  rep %d %-7s batch %3d: minidl %9.2f  pytorch %9.2f  %s" % (
                    rep + 1, c[0], c[1], m[-1][key], t[-1][key], "ms" if c[0] == "latency" else "images/s"))
                sys.stdout.flush()

    print()
    print("load average at the end: %s (other processes on the machine slow both alike, but add noise)"
          % " ".join("%.2f" % v for v in os.getloadavg()))
    print("%-26s %12s %12s %18s" % ("figure", "minidl", "PyTorch", "minidl/PyTorch"))
    summary = []
    for c in configs:
        m, t = runs[c]["minidl"], runs[c]["pytorch"]
        if not m or not t:
            print("%-26s (missing runs)" % ("%s batch %d" % c))
            continue
        if c[0] == "latency":
            key, unit, better = "ms_per_step_median", "ms", "lower is better"
        else:
            key, unit, better = "images_per_sec", "img/s", "higher is better"
        pairs = [a[key] / b[key] for a, b in zip(m, t)]
        mv, tv = statistics.median(r[key] for r in m), statistics.median(r[key] for r in t)
        label = "%s batch %d (%s)" % (c[0], c[1], unit)
        print("%-26s %12.2f %12.2f %8.3f  [%.3f..%.3f] %s" % (label, mv, tv, statistics.median(pairs), min(pairs),
                                                               max(pairs), better))
        # The fastest step of all repetitions: what each reaches when the machine leaves it alone.
        m_best, t_best = min(r["ms_per_step_min"] for r in m), min(r["ms_per_step_min"] for r in t)
        if c[0] == "latency":
            print("%-26s %12.2f %12.2f %8.3f" % ("  fastest run (ms)", m_best, t_best, m_best / t_best))
        else:
            print("%-26s %12.1f %12.1f %8.3f" % ("  fastest step (img/s)", 1e3 * c[1] / m_best, 1e3 * c[1] / t_best,
                                                 t_best / m_best))
        mib = 1024.0 * 1024.0
        m_rss, t_rss = max(r["max_rss_bytes"] for r in m) / mib, max(r["max_rss_bytes"] for r in t) / mib
        m_alloc = max(r["peak_alloc_bytes"] or 0 for r in m) / mib
        t_alloc = [r["peak_alloc_bytes"] for r in t if r.get("peak_alloc_bytes") is not None]
        print("%-26s %12.1f %12.1f %8.3f" % ("  max RSS (MiB)", m_rss, t_rss, m_rss / t_rss))
        print("%-26s %12.1f %12s" % ("  peak alloc (MiB)", m_alloc, "%.1f" % (max(t_alloc) / mib) if t_alloc else "n/a"))
        summary.append({"mode": c[0], "batch": c[1], "unit": unit, "minidl": mv, "pytorch": tv,
                        "minidl_fastest_step_ms": m_best, "pytorch_fastest_step_ms": t_best,
                        "ratio_median": statistics.median(pairs), "ratio_min": min(pairs), "ratio_max": max(pairs),
                        "minidl_max_rss_mib": m_rss, "pytorch_max_rss_mib": t_rss, "minidl_peak_alloc_mib": m_alloc})
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"threads": threads, "device": args.device, "reps": args.reps, "tuned_malloc": TUNED_MALLOC,
                       "runs": [{"mode": c[0], "batch": c[1], **runs[c]} for c in configs], "summary": summary}, f,
                      indent=1)


if __name__ == "__main__":
    main()

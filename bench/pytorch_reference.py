#!/usr/bin/env python3
"""PyTorch's figures for the FER model, the same as bench_train's and under the same JSON keys.

The model is torchvision's resnet18 with conv1 = Conv2d(1, 64, 7, 2, 3, bias=False) and
fc = Linear(512, 7), on 1x64x64 inputs; training is forward, cross-entropy, backward and an
SGD momentum step (lr 0.01, momentum 0.9), exactly what bench_train times.

  pytorch_reference.py [--mode all|train|infer|latency] [--batch 64,256] [--steps 10]
                       [--warmup 3] [--threads N] [--device cpu|cuda|all] [--json]
                       [--variants eager,amp,compile] [--channels-last-amp on|off]

On the CPU, torch.set_num_threads(--threads) (default: OMP_NUM_THREADS or all cores), eager
FP32 by default; --variants eager,amp adds torch.autocast('cpu', dtype=torch.bfloat16) ("amp",
the precision axis of compare_pytorch.py; compile is GPU-only here). glibc's malloc hands large tensors back to the OS on every free unless told otherwise,
which costs PyTorch page faults on every step; bench/compare_pytorch.sh runs this script with
GLIBC_TUNABLES set so that it does not (a fair PyTorch), and this script prints the setting
it ran under.

On a GPU, each variant is a row: eager FP32 (TF32 off, as minidl's default), channels_last
with autocast to bfloat16 ("amp"; --channels-last-amp off keeps NCHW), and torch.compile of the eager model ("compile") where this
PyTorch has it. A GPU loop ends with a read of the loss (a device sync) inside the timed span.

Memory: peak_alloc_bytes is torch.cuda.max_memory_allocated() on a GPU and null on the CPU
(PyTorch's CPU allocator keeps no statistics); max_rss_bytes is the process's peak resident
set, which includes the Python interpreter and PyTorch's libraries.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision

SIZE, CLASSES = 64, 7


def fer_resnet18():
    m = torchvision.models.resnet18(num_classes=CLASSES)
    m.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    return m


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def max_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def finish(res, times, device, batch, total=None):
    res["steps"] = len(times)
    total = sum(times) if total is None else total
    res["images_per_sec"] = batch * len(times) / total
    res["ms_per_step_median"] = 1e3 * statistics.median(times)
    res["ms_per_step_min"] = 1e3 * min(times)
    res["peak_alloc_bytes"] = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
    res["max_rss_bytes"] = max_rss_bytes()
    res["load_average"] = " ".join("%.2f" % v for v in os.getloadavg())
    return res


CHANNELS_LAST_AMP = True  # set from --channels-last-amp


def make_model(device, variant, train):
    torch.manual_seed(1)
    model = fer_resnet18().to(device)
    model.train(train)
    if variant == "amp" and CHANNELS_LAST_AMP:
        model = model.to(memory_format=torch.channels_last)
    run = model
    if variant == "compile":
        run = torch.compile(model)
    return model, run


def inputs(batch, device, variant):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 1, SIZE, SIZE, generator=g).to(device)
    if variant == "amp" and CHANNELS_LAST_AMP:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, CLASSES, (batch,), generator=torch.Generator().manual_seed(3)).to(device)
    return x, y


def autocast(device, variant):
    if variant == "amp":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


def bench_train(batch, device, variant, args):
    model, run = make_model(device, variant, True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x, y = inputs(batch, device, variant)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(device, variant):
            loss = loss_fn(run(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step().item()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if args.profile and device.type == "cpu":
        profile_steps(step, args)
    times = []
    t0 = prev = time.perf_counter()
    for i in range(args.steps):
        loss = step()
        if device.type == "cpu" or i + 1 == args.steps:
            loss.item()
        t = time.perf_counter()
        times.append(t - prev)
        prev = t
    res = {"mode": "train", "batch": batch}
    return finish(res, times, device, batch, None if device.type == "cpu" else prev - t0)


def profile_steps(step, args):
    """PyTorch's own profile of a few training steps (self CPU time per op), for comparison
    with bench_train --profile."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step().item()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    sys.stdout.flush()


def bench_infer(batch, device, variant, args, latency):
    model, run = make_model(device, variant, False)
    x, _ = inputs(batch, device, variant)
    steps = 5 * args.steps if latency else args.steps
    with torch.no_grad():
        for _ in range(args.warmup):
            with autocast(device, variant):
                run(x).float().cpu()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = []
        t0 = prev = time.perf_counter()
        for i in range(steps):
            with autocast(device, variant):
                out = run(x)
            if latency or device.type == "cpu" or i + 1 == steps:
                out.float().cpu()
            t = time.perf_counter()
            times.append(t - prev)
            prev = t
    res = {"mode": "latency" if latency else "infer", "batch": batch}
    total = None if (device.type == "cpu" or latency) else prev - t0
    return finish(res, times, device, batch, total)


def print_human(r):
    mib = 1024.0 * 1024.0
    alloc = "n/a" if r["peak_alloc_bytes"] is None else "%.1f MiB" % (r["peak_alloc_bytes"] / mib)
    label = "%-5s %-8s %-8s batch %4d" % (r["device"], r["variant"], r["mode"], r["batch"])
    if r["mode"] == "latency":
        print("%s: %8.2f ms median latency (min %.2f, %d runs)      peak alloc %s, max RSS %.1f MiB"
              % (label, r["ms_per_step_median"], r["ms_per_step_min"], r["steps"], alloc, r["max_rss_bytes"] / mib))
    else:
        print("%s: %8.1f images/s (%.1f ms/step median, min %.1f, %d steps)  peak alloc %s, max RSS %.1f MiB"
              % (label, r["images_per_sec"], r["ms_per_step_median"], r["ms_per_step_min"], r["steps"], alloc,
                 r["max_rss_bytes"] / mib))
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", default="all", choices=["all", "train", "infer", "latency"])
    p.add_argument("--batch", default="64,256")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "all"])
    p.add_argument("--variants", default=None,
                   help="variants to run: eager, amp, compile (default: all three on a GPU, eager on the CPU; "
                        "compile is skipped on the CPU)")
    p.add_argument("--channels-last-amp", default="on", choices=["on", "off"],
                   help="amp runs the model and input in channels_last (default on)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's table for CPU training steps")
    args = p.parse_args()
    global CHANNELS_LAST_AMP
    CHANNELS_LAST_AMP = args.channels_last_amp == "on"

    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count()
    torch.set_num_threads(threads)
    batches = [int(b) for b in args.batch.split(",") if b]

    if not args.json:
        print("pytorch_reference  (torch %s, torchvision %s, %s)" % (torch.__version__, torchvision.__version__,
                                                                    time.strftime("%Y-%m-%d %H:%M")))
        print("machine: %s, %d logical CPUs online, python %s" % (cpu_model(), os.cpu_count(), platform.python_version()))
        print("threads: torch.set_num_threads(%d) (OMP_NUM_THREADS=%s), GLIBC_TUNABLES=%s"
              % (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS", "unset"),
                 os.environ.get("GLIBC_TUNABLES", "unset")))
        print("model: torchvision resnet18, conv1 = Conv2d(1, 64, 7, 2, 3), fc = Linear(512, 7), input 1x%dx%d; "
              "SGD momentum 0.9; %d warm-up + %d timed steps; load average %s"
              % (SIZE, SIZE, args.warmup, args.steps, " ".join("%.2f" % v for v in os.getloadavg())))

    devices = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda", 0))
        elif not args.json:
            print("GPU rows: not run (torch.cuda.is_available() is False)")
    if not args.json:
        print()

    for device in devices:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True  # the fastest algorithm per shape, as minidl's cuDNN plans
        if device.type == "cuda":
            variants = [v for v in (args.variants or "eager,amp,compile").split(",") if v]
            if "compile" in variants and not hasattr(torch, "compile"):
                variants.remove("compile")
                if not args.json:
                    print("torch.compile: not in this PyTorch (%s); skipped" % torch.__version__)
        else:
            variants = [v for v in (args.variants or "eager").split(",") if v in ("eager", "amp")]
        for variant in variants:
            runs = []
            if args.mode in ("all", "latency"):
                runs.append(lambda: bench_infer(1, device, variant, args, True))
            if args.mode in ("all", "infer"):
                runs += [lambda b=b: bench_infer(b, device, variant, args, False) for b in batches]
            if args.mode in ("all", "train"):
                runs += [lambda b=b: bench_train(b, device, variant, args) for b in batches]
            for run in runs:
                try:
                    r = run()
                except Exception as e:  # torch.compile can fail on some setups: say so, go on
                    print("%s %s: failed: %s" % (device, variant, e), file=sys.stderr)
                    continue
                r = {"framework": "pytorch", "device": "cpu" if device.type == "cpu" else "cuda:0",
                     "variant": variant, "precision": "bf16" if variant == "amp" else "fp32",
                     "channels_last": variant == "amp" and CHANNELS_LAST_AMP,
                     "threads": torch.get_num_threads(), **r}
                print(json.dumps(r)) if args.json else print_human(r)
                sys.stdout.flush()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The report half of scripts/gpu-check.sh.

  gpu_check_report.py parity JUNIT_XML TEST_NAMES_FILE
      one line per [cuda] test case (one kernel or kernel family each): PASS, FAIL or SKIP, the
      number of parity comparisons it printed, its worst error as a fraction of its tolerance,
      and its time; failures with their first message.
  gpu_check_report.py summary WORK OUTDIR BUDGET DRYRUN
      reads what the stages left in WORK (env.tsv, stages.tsv, parity-lines.txt, the training
      runs' metrics.jsonl, the benchmarks' output) and writes OUTDIR/summary.json and
      OUTDIR/gpu-check.md, a Markdown fragment ready to paste into docs/.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

RATIO = re.compile(r"\[cuda parity\] (.*?): .*?, ([0-9.eE+-]+|nan|inf) of its tolerance")


def parity_cases(xml_path, names_path):
    names = [l.rstrip("\n") for l in open(names_path) if l.strip()] if os.path.exists(names_path) else []
    cases = {}
    order = []
    root = ET.parse(xml_path).getroot()
    for tc in root.iter("testcase"):
        full = tc.get("name", "")
        # Catch2 names a section's leaf "Test case/section": fold it into its test case.
        name = next((n for n in names if full == n or full.startswith(n + "/")), full.split("/")[0])
        c = cases.get(name)
        if c is None:
            c = cases[name] = {"name": name, "seconds": 0.0, "failures": [], "out": "", "skipped": False}
            order.append(name)
        c["seconds"] += float(tc.get("time", "0") or 0)
        for f in list(tc.iter("failure")) + list(tc.iter("error")):
            c["failures"].append((f.get("message") or "") + " " + (f.text or "").strip())
        for o in tc.iter("system-out"):
            c["out"] += (o.text or "") + "\n"
    # Catch2's JUnit writer leaves out a test case that made no assertion and captured no output
    # (one that returned early after printing with printf): list it, so none goes unseen.
    for n in names:
        if n not in cases:
            cases[n] = {"name": n, "seconds": 0.0, "failures": [], "out": "", "absent": True}
            order.append(n)
    for c in cases.values():
        c["skipped"] = "MINIDL_SKIPPED" in c["out"] and not c["failures"]
        ratios = [float(m.group(2)) for m in RATIO.finditer(c["out"])]
        c["checks"] = len(ratios)
        c["worst_ratio"] = max(ratios) if ratios else None
        c["status"] = "FAIL" if c["failures"] else ("SKIP" if c["skipped"] else ("NONE" if c.get("absent") else "PASS"))
        if c["skipped"]:
            c["skip_reason"] = c["out"].split("MINIDL_SKIPPED", 1)[1].strip(": \n").splitlines()[0][:160]
    return [cases[n] for n in order]


def parity_line(c):
    s = "%-4s %s" % (c["status"], c["name"])
    if c["checks"]:
        s += ": %d checks, worst %.3g of its tolerance" % (c["checks"], c["worst_ratio"])
    s += " (%.1f s)" % c["seconds"]
    if c["status"] == "FAIL":
        s += " -- " + " | ".join(f.replace("\n", " ")[:200] for f in c["failures"][:2])
    if c["status"] == "SKIP":
        s += " -- " + c.get("skip_reason", "")
    if c["status"] == "NONE":
        s += " -- no assertion and no captured output in the JUnit report (a skip printed with printf?)"
    return s


def read_tsv(path, cols):
    rows = []
    if os.path.exists(path):
        for line in open(path, encoding="utf-8", errors="replace"):
            parts = line.rstrip("\n").split("\t")
            rows.append(dict(zip(cols, parts + [""] * (len(cols) - len(parts)))))
    return rows


def read_jsonl(path):
    out = []
    if os.path.exists(path):
        for line in open(path, encoding="utf-8", errors="replace"):
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def gpu_rows(path, keep):
    if not os.path.exists(path):
        return []
    return [l.rstrip() for l in open(path, encoding="utf-8", errors="replace") if keep(l)]


def summary(work, outdir, budget, dryrun):
    env = {r["key"]: r["value"] for r in read_tsv(os.path.join(work, "env.tsv"), ["key", "value"])}
    stages = read_tsv(os.path.join(work, "stages.tsv"), ["stage", "status", "seconds", "bound", "note"])
    failed = [s for s in stages if s["status"].startswith("failed")]
    result = "FAIL" if failed else "PASS"
    parity = [l.rstrip() for l in open(os.path.join(work, "parity-lines.txt"))] \
        if os.path.exists(os.path.join(work, "parity-lines.txt")) else []
    training = {}
    for run in ("synthetic", "fashion-mnist"):
        m = read_jsonl(os.path.join(work, "runs", run, "metrics.jsonl"))
        if m:
            training[run] = m
    minidl_bench = read_jsonl(os.path.join(work, "bench_train.txt"))
    torch_bench = read_jsonl(os.path.join(work, "pytorch_eager_amp.txt")) + \
        read_jsonl(os.path.join(work, "pytorch_compile.txt"))
    gemm = gpu_rows(os.path.join(work, "bench_gemm.txt"), lambda l: "cuBLAS" in l or "sgemm_tiled" in l)
    conv = gpu_rows(os.path.join(work, "bench_conv.txt"), lambda l: " gpu " in l or "validation" in l)
    conv_bf16 = gpu_rows(os.path.join(work, "bench_conv_bf16.txt"), lambda l: " gpu " in l or "validation" in l)
    profile = gpu_rows(os.path.join(work, "bench_train_profile.txt"), lambda l: l.strip() != "")
    doc = {"result": result, "dry_run": dryrun == "1", "budget_s": int(budget), "environment": env,
           "stages": stages, "cuda_tests": parity, "training": training,
           "bench_train": {"minidl": minidl_bench, "pytorch": torch_bench},
           "bench_gemm_gpu_rows": gemm, "bench_conv_gpu_rows": conv, "bench_conv_bf16_gpu_rows": conv_bf16,
           "bench_train_profile": profile}
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(doc, f, indent=1)

    md = []
    title = "dry run without a GPU" if dryrun == "1" else env.get("gpu", "no GPU")
    md.append("### GPU check, %s, %s" % (env.get("date", "?"), title))
    md.append("")
    md.append("`bash scripts/gpu-check.sh \"$OUT\"` at commit %s: **%s**." % (env.get("commit", "?"), result))
    md.append("")
    for k in ("gpu", "driver", "cuda_driver_api", "gpu_memory", "compute_capability", "nvcc", "cuda_runtime",
              "cublas", "cudnn", "nccl", "cmake", "compiler", "cpu", "python", "build_deps"):
        if k in env:
            md.append("- %s: %s" % (k.replace("_", " "), env[k]))
    md.append("")
    md.append("| stage | result | time | note |")
    md.append("| --- | --- | --- | --- |")
    for s in stages:
        md.append("| %s | %s | %s s (bound %s) | %s |" % (s["stage"], s["status"], s["seconds"], s["bound"],
                                                      s["note"].replace("|", "/")[:300]))
    if parity:
        md.append("")
        md.append("CUDA tests (`minidl_tests \"[cuda]\"`, CUDA_LAUNCH_BLOCKING=1), one line per test case:")
        md.append("")
        md.append("```")
        md.extend(parity)
        md.append("```")
    if training:
        md.append("")
        md.append("| training run (cuda) | epoch | train loss | train acc | val loss | val acc | images/s | seconds |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for run, ms in training.items():
            for m in ms:
                md.append("| %s | %s | %.4f | %.4f | %.4f | %.4f | %.0f | %.1f |" % (
                    run, m.get("epoch"), m.get("train_loss", 0), m.get("train_acc", 0), m.get("val_loss", 0),
                    m.get("val_acc", 0), m.get("images_per_sec", 0), m.get("seconds", 0)))
    if minidl_bench or torch_bench:
        md.append("")
        md.append("| framework | variant | mode | batch | images/s | ms/step (median) | peak alloc MiB |")
        md.append("| --- | --- | --- | --- | --- | --- | --- |")
        for r in minidl_bench + torch_bench:
            alloc = r.get("peak_alloc_bytes")
            md.append("| %s | %s | %s | %s | %.1f | %.3f | %s |" % (
                r.get("framework"), r.get("variant", "fp32"), r.get("mode"), r.get("batch"),
                r.get("images_per_sec", 0), r.get("ms_per_step_median", 0),
                "%.0f" % (alloc / 2**20) if isinstance(alloc, (int, float)) else "n/a"))
    for title_, rows, most in (("bench_gemm, GPU rows", gemm, 80), ("bench_conv, GPU rows and validation", conv, 80),
                               ("bench_conv --precision bf16, GPU rows and validation", conv_bf16, 80),
                               ("bench_train --profile, each op's device time per training step", profile, 120)):
        if rows:
            md.append("")
            md.append(title_ + ":")
            md.append("")
            md.append("```")
            md.extend(rows[:most])
            md.append("```")
    with open(os.path.join(outdir, "gpu-check.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("wrote %s/summary.json and %s/gpu-check.md (%s)" % (outdir, outdir, result))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "parity":
        for c in parity_cases(sys.argv[2], sys.argv[3]):
            print(parity_line(c))
        return 0
    if len(sys.argv) == 6 and sys.argv[1] == "summary":
        summary(*sys.argv[2:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

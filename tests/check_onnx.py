#!/usr/bin/env python3
"""Checks an ONNX file written by minidl with tools that are not minidl's.

  check_onnx.py MODEL.onnx INPUT.f32 EXPECTED.f32 N C H W CLASSES TOLERANCE

INPUT.f32 holds N x C x H x W float32 values, EXPECTED.f32 minidl's N x CLASSES logits. Runs
the ONNX checker (full check, with shape inference), checks the graph's interface (input
`input` float[batch, C, H, W] with a named dynamic batch, output `logits`, opset 17 or newer,
the normalisation in metadata_props), then every runtime that imports (onnxruntime; OpenCV's
DNN module), on the whole batch and one image at a time, and prints one line per runtime:
  runtime NAME VERSION max_abs_error E
Exit status: 0 all within TOLERANCE, 1 a check failed, 3 onnx or every runtime is missing.
"""
import sys

import numpy as np

try:
    import onnx
except ImportError as e:
    print(f"onnx is not importable: {e}")
    sys.exit(3)


def fail(msg):
    print(f"FAILED: {msg}")
    sys.exit(1)


def main(argv):
    path, xin, xout = argv[1:4]
    n, c, h, w, classes = (int(v) for v in argv[4:9])
    tol = float(argv[9])
    x = np.fromfile(xin, dtype=np.float32).reshape(n, c, h, w)
    want = np.fromfile(xout, dtype=np.float32).reshape(n, classes)

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    print(f"checker ok (onnx {onnx.__version__}, ir_version {model.ir_version})")
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", 0) < 17:
        fail(f"opset {opsets}")
    (inp,) = model.graph.input
    (out,) = model.graph.output
    t = inp.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in t.shape.dim]
    if inp.name != "input" or t.elem_type != onnx.TensorProto.FLOAT or dims != ["batch", c, h, w]:
        fail(f"input {inp.name} type {t.elem_type} dims {dims}")
    if out.name != "logits":
        fail(f"output {out.name}")
    meta = {p.key: p.value for p in model.metadata_props}
    for key in ("normalization", "class_names", "minidl.normalize"):
        if key not in meta:
            fail(f"metadata_props has no {key}: {sorted(meta)}")
    print(f"metadata ok: normalization '{meta['normalization']}', class_names {meta['class_names']}")
    ops = sorted({node.op_type for node in model.graph.node})
    print(f"operators: {' '.join(ops)}")

    runtimes = []
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        runtimes.append((f"onnxruntime {ort.__version__}", lambda a: sess.run(["logits"], {"input": a})[0]))
    except ImportError:
        pass
    try:
        import cv2

        net = cv2.dnn.readNetFromONNX(path)

        def run_cv(a):
            net.setInput(a)
            return net.forward()

        runtimes.append((f"opencv-dnn {cv2.__version__}", run_cv))
    except ImportError:
        pass
    if not runtimes:
        print("no ONNX runtime: neither onnxruntime nor cv2 imports")
        sys.exit(3)

    ok = True
    for name, run in runtimes:
        got = np.asarray(run(x))
        single = np.concatenate([np.asarray(run(x[i : i + 1])) for i in range(n)])
        if got.shape != want.shape or single.shape != want.shape:
            fail(f"{name}: output shape {got.shape} / {single.shape}, expected {want.shape}")
        err = float(max(np.abs(got - want).max(), np.abs(single - want).max()))
        print(f"runtime {name.replace(' ', ' ')} max_abs_error {err:.3g}")
        ok = ok and err <= tol
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) != 10:
        sys.exit(__doc__)
    main(sys.argv)

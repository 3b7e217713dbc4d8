#!/usr/bin/env python3
"""Preflight of scripts/gpu-check.sh: do the CUDA libraries the build will link load in this
environment (LD_LIBRARY_PATH as the tests will see it), and what versions are they?

  gpu_check_libs.py CUDA_LIB_DIR [CUDNN_LIB_DIR|-] [NCCL_LIB_DIR|-]

Prints one JSON object: for each library its path, whether it loaded, the error if not, and the
version it reports (cudaRuntimeGetVersion, cudaDriverGetVersion, cublasGetProperty, cudnnGetVersion,
ncclGetVersion), and the device count cudaGetDeviceCount gives (with its error code, which on a
machine without a GPU is the answer, not a failure). Exit status 0 when cudart and cuBLAS load,
1 otherwise; a cuDNN or NCCL that does not load is reported, and the caller decides.
"""
import ctypes
import glob
import json
import os
import sys


def load(path):
    try:
        return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL), None
    except OSError as e:
        return None, str(e)


def first(patterns):
    for p in patterns:
        hits = sorted(glob.glob(p))
        if hits:
            return hits[0]
    return None


def version_int(lib, fn):
    v = ctypes.c_int(0)
    rc = getattr(lib, fn)(ctypes.byref(v))
    return v.value if rc == 0 else None


def main():
    cuda_lib = sys.argv[1]
    cudnn_lib = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    nccl_lib = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
    out = {}

    path = first([cuda_lib + "/libcudart.so.1[0-9]*", cuda_lib + "/libcudart.so"])
    lib, err = load(path) if path else (None, "no libcudart.so* in " + cuda_lib)
    rec = {"path": path, "loaded": lib is not None, "error": err}
    if lib:
        rec["runtime_version"] = version_int(lib, "cudaRuntimeGetVersion")
        rec["driver_version"] = version_int(lib, "cudaDriverGetVersion")  # 0: no driver
        n = ctypes.c_int(0)
        rc = lib.cudaGetDeviceCount(ctypes.byref(n))
        rec["device_count"] = n.value if rc == 0 else 0
        rec["device_count_error"] = rc
    out["cudart"] = rec

    path = first([cuda_lib + "/libcublas.so.1[0-9]*", cuda_lib + "/libcublas.so"])
    lib, err = load(path) if path else (None, "no libcublas.so* in " + cuda_lib)
    rec = {"path": path, "loaded": lib is not None, "error": err}
    if lib:
        parts = []
        for prop in (0, 1, 2):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
            v = ctypes.c_int(0)
            parts.append(str(v.value) if lib.cublasGetProperty(prop, ctypes.byref(v)) == 0 else "?")
        rec["version"] = ".".join(parts)
    out["cublas"] = rec

    if cudnn_lib:
        # libcudnn.so.9 is a small shim that opens the others on first use: load each of them
        # now, so a missing or broken one shows here and not in the middle of a test.
        recs = {}
        for path in sorted(glob.glob(cudnn_lib + "/libcudnn*.so.[0-9]*")):
            lib, err = load(path)
            r = {"loaded": lib is not None, "error": err}
            if lib and os.path.basename(path).startswith("libcudnn.so"):
                lib.cudnnGetVersion.restype = ctypes.c_size_t
                v = lib.cudnnGetVersion()
                r["version"] = "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
            recs[os.path.basename(path)] = r
        main_lib = next((r for k, r in recs.items() if k.startswith("libcudnn.so")), None)
        out["cudnn"] = {"dir": cudnn_lib, "libraries": recs,
                        "loaded": bool(recs) and all(r["loaded"] for r in recs.values()),
                        "version": main_lib.get("version") if main_lib else None,
                        "error": None if recs else "no libcudnn*.so.N in " + cudnn_lib}
    if nccl_lib:
        path = first([nccl_lib + "/libnccl.so.[0-9]*", nccl_lib + "/libnccl.so"])
        lib, err = load(path) if path else (None, "no libnccl.so* in " + nccl_lib)
        rec = {"path": path, "loaded": lib is not None, "error": err}
        if lib:
            v = version_int(lib, "ncclGetVersion")
            if v is not None:
                rec["version"] = "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
        out["nccl"] = rec

    print(json.dumps(out))
    return 0 if out["cudart"]["loaded"] and out["cublas"]["loaded"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Read and write safetensors files from PyTorch without the safetensors package.

Debian packages torch and numpy but not safetensors, so the golden-test generator and the
interoperability checks use this module. It writes the same bytes as minidl's C++ writer
(core/safetensors.cpp) for the same contents: "__metadata__" first, then the tensors in name
order with their data in that order, the JSON compact and padded with spaces to a multiple of
8 bytes, the file written atomically. docs/formats.md describes the layout.

    import torch_safetensors as st
    st.save("model.safetensors", model.state_dict(), {"minidl.input_size": "[1,64,64]"})
    tensors, metadata = st.load("model.safetensors")

Run as a script:
    python3 torch_safetensors.py show FILE        # names, dtypes, shapes, metadata
    python3 torch_safetensors.py copy IN OUT      # load IN and write it again as OUT
"""

import json
import os
import struct
import sys

import numpy as np
import torch

# dtype code -> (torch dtype, little-endian numpy dtype of the stored bytes). bfloat16 has no
# numpy type: its bytes travel as int16 and are reinterpreted.
_DTYPES = {
    "F32": (torch.float32, "<f4"),
    "F64": (torch.float64, "<f8"),
    "I64": (torch.int64, "<i8"),
    "F16": (torch.float16, "<f2"),
    "BF16": (torch.bfloat16, "<i2"),
    "I32": (torch.int32, "<i4"),
    "I16": (torch.int16, "<i2"),
    "I8": (torch.int8, "i1"),
    "U8": (torch.uint8, "u1"),
    "BOOL": (torch.bool, "?"),
}
_CODES = {torch_dtype: code for code, (torch_dtype, _) in _DTYPES.items()}
_MAX_HEADER = 100_000_000
METADATA_KEY = "__metadata__"


class SafetensorsError(ValueError):
    pass


def _tensor_bytes(t):
    t = t.detach().to("cpu").contiguous()
    code = _CODES.get(t.dtype)
    if code is None:
        raise SafetensorsError(f"dtype {t.dtype} has no safetensors code here")
    if code == "BF16":
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    return code, list(t.shape), arr.astype(_DTYPES[code][1], copy=False).tobytes()


def save(path, tensors, metadata=None):
    """Writes {name: tensor} (any device) and {str: str} metadata to path, atomically."""
    metadata = dict(metadata or {})
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise SafetensorsError(f"metadata must map str to str; got {k!r}: {v!r} "
                                   "(encode structured values with json.dumps)")
    header = {}
    if metadata:
        header[METADATA_KEY] = {k: metadata[k] for k in sorted(metadata)}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        if name == METADATA_KEY:
            raise SafetensorsError("a tensor cannot be named __metadata__")
        code, shape, data = _tensor_bytes(tensors[name])
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)

    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # best effort, as in the C++ writer
    finally:
        os.close(dir_fd)


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise SafetensorsError(f"header has the key {k!r} twice")
        d[k] = v
    return d


def _count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def load(path):
    """Returns ({name: CPU tensor}, {str: str} metadata); raises SafetensorsError on bad files."""
    with open(path, "rb") as f:
        buf = f.read()

    def bad(msg):
        raise SafetensorsError(f"safetensors file '{path}': {msg}")

    if len(buf) < 8:
        bad(f"file too short ({len(buf)} bytes)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8 or n > _MAX_HEADER:
        bad(f"header length {n} is larger than the file ({len(buf)} bytes)")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        bad(f"header is not valid JSON ({e})")
    except SafetensorsError as e:  # a duplicate key
        bad(str(e))
    if not isinstance(header, dict):
        bad("header is not a JSON object")
    data = memoryview(buf)[8 + n:]

    metadata = header.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        bad("__metadata__ is not an object of strings")

    tensors = {}
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            bad(f"tensor {name!r}: expected an object with dtype, shape and data_offsets")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _DTYPES:
            bad(f"tensor {name!r}: unsupported dtype {code!r}")
        if not isinstance(shape, list) or not all(_count(d) for d in shape):
            bad(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(o) for o in offsets)):
            bad(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        torch_dtype, np_dtype = _DTYPES[code]
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if not begin <= end <= len(data) or end - begin != count * np.dtype(np_dtype).itemsize:
            bad(f"tensor {name!r}: data_offsets {offsets} do not fit {code} shape {shape} "
                f"in a {len(data)}-byte data section")
        arr = np.frombuffer(data, dtype=np_dtype, count=count, offset=begin).reshape(shape)
        t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True))
        if code == "BF16":
            t = t.view(torch.bfloat16)
        tensors[name] = t
        spans.append((begin, end, name))

    covered = 0
    for begin, end, name in sorted(spans):
        if begin != covered:
            bad(f"tensor {name!r} starts at byte {begin}, expected {covered} (overlap or hole)")
        covered = end
    if covered != len(data):
        bad(f"the data section holds {len(data)} bytes but the tensors cover {covered}")
    return tensors, dict(metadata)


def _main(argv):
    if len(argv) == 3 and argv[1] == "show":
        tensors, metadata = load(argv[2])
        for name, t in sorted(tensors.items()):
            print(f"{name}: {_CODES[t.dtype]} {list(t.shape)}")
        for k, v in sorted(metadata.items()):
            print(f"__metadata__[{k!r}] = {v!r}")
        return 0
    if len(argv) == 4 and argv[1] == "copy":
        tensors, metadata = load(argv[2])
        save(argv[3], tensors, metadata)
        return 0
    print(__doc__.split("Run as a script:")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))

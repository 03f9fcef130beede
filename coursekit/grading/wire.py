"""The data format between the grader and a submission's process.

Only plain data crosses: None, bool, int, float, str, lists, tuples, dicts
with string keys, and tensors, which travel as dtype, shape and raw bytes.
Nothing is pickled, so what a submission sends back can never run code in
the grader, and a tensor arrives as a plain torch.Tensor however the
submission's object behaved on its side.

On the pipe, a frame is its length (8 bytes, big-endian) and a body: the
JSON header's length (4 bytes), the header, then the tensors' bytes, whose
sizes the header states. `encode` gives the whole frame, `decode` takes
the body.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import torch

# dtypes that may cross, by name; bfloat16 travels as its int16 bit pattern.
DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in DTYPES.items()}
MAX_FRAME = 1 << 31  # 2 GiB
_MAX_DEPTH = 32


class WireError(ValueError):
    """Data that is not plain data, or a frame that is not well formed."""


@dataclass(frozen=True)
class Unsendable:
    """Stands for an output that cannot cross (a meta tensor, a custom object): its description."""

    what: str


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def encode(obj) -> bytes:
    blobs: list[bytes] = []

    def walk(x, depth):
        if depth > _MAX_DEPTH:
            raise WireError("structure nested too deeply")
        if x is None or isinstance(x, (bool, int, float, str)):
            if isinstance(x, float) and math.isnan(x):
                return {"__float__": "nan"}
            if isinstance(x, float) and x in (float("inf"), float("-inf")):
                return {"__float__": "inf" if x > 0 else "-inf"}
            return x
        if isinstance(x, Unsendable):
            return {"__unsendable__": str(x.what)}
        if isinstance(x, torch.Tensor):
            if x.dtype not in _NAMES:
                raise WireError(f"tensors of dtype {x.dtype} cannot be sent")
            if x.is_complex() or x.layout != torch.strided:
                raise WireError("only dense real tensors can be sent")
            blobs.append(_tensor_bytes(x))
            return {"__tensor__": len(blobs) - 1, "dtype": _NAMES[x.dtype], "shape": list(x.shape)}
        if isinstance(x, (list, tuple)):
            items = [walk(v, depth + 1) for v in x]
            return {"__tuple__": items} if isinstance(x, tuple) else items
        if isinstance(x, dict):
            if not all(isinstance(k, str) for k in x):
                raise WireError("dict keys must be strings")
            if any(k.startswith("__") and k.endswith("__") for k in x):
                raise WireError("dict keys may not be dunder names")
            return {"__dict__": {k: walk(v, depth + 1) for k, v in x.items()}}
        raise WireError(f"cannot send an object of type {type(x).__name__}")

    header = json.dumps({"data": walk(obj, 0), "sizes": [len(b) for b in blobs]}).encode()
    body = struct.pack(">I", len(header)) + header + b"".join(blobs)
    return struct.pack(">Q", len(body)) + body


def decode(frame: bytes):
    """Rebuild plain data from a frame's body; never runs code from it."""
    if len(frame) < 4:
        raise WireError("frame too short")
    (n,) = struct.unpack(">I", frame[:4])
    try:
        header = json.loads(frame[4 : 4 + n])
        sizes = [int(s) for s in header["sizes"]]
        data = header["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"malformed header ({exc})") from None
    offsets, pos = [], 4 + n
    for size in sizes:
        if size < 0:
            raise WireError("negative size")
        offsets.append((pos, pos + size))
        pos += size
    if pos != len(frame):
        raise WireError("frame length does not match its header")

    def build(x, depth):
        if depth > _MAX_DEPTH:
            raise WireError("structure nested too deeply")
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, list):
            return [build(v, depth + 1) for v in x]
        if not isinstance(x, dict) or len(x) == 0:
            raise WireError("unexpected value in frame")
        if "__float__" in x:
            return float(x["__float__"])
        if "__unsendable__" in x:
            return Unsendable(str(x["__unsendable__"]))
        if "__tuple__" in x:
            return tuple(build(v, depth + 1) for v in x["__tuple__"])
        if "__dict__" in x:
            return {str(k): build(v, depth + 1) for k, v in x["__dict__"].items()}
        if "__tensor__" in x:
            dtype = DTYPES.get(x.get("dtype"))
            shape = x.get("shape")
            index = x["__tensor__"]
            if dtype is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
                raise WireError("malformed tensor")
            if not isinstance(index, int) or not 0 <= index < len(offsets):
                raise WireError("malformed tensor index")
            start, end = offsets[index]
            wire_dtype = torch.int16 if dtype == torch.bfloat16 else dtype
            itemsize = torch.empty((), dtype=wire_dtype).element_size()
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if count * itemsize != end - start:
                raise WireError("tensor size does not match its shape")
            array = np.frombuffer(
                frame, dtype=torch.empty((), dtype=wire_dtype).numpy().dtype, count=count, offset=start
            )
            t = torch.from_numpy(array.copy()).reshape(shape)
            return t.view(torch.bfloat16) if dtype == torch.bfloat16 else t
        raise WireError("unexpected value in frame")

    return build(data, 0)

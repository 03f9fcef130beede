"""The grader's data format: plain data only, and malformed frames refused."""

import json
import struct

import pytest
import torch

from coursekit.grading.wire import Unsendable, WireError, decode, encode


def roundtrip(obj):
    frame = encode(obj)
    assert struct.unpack(">Q", frame[:8])[0] == len(frame) - 8
    return decode(frame[8:])


def test_roundtrip_keeps_values_dtypes_and_structure():
    obj = {
        "t": torch.randn(2, 3, dtype=torch.float64),
        "pair": (torch.arange(4), torch.ones(2, dtype=torch.bool)),
        "bf16": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        "empty": torch.zeros(0, 5),
        "scalar": torch.tensor(3.0),
        "plain": [1, 2.5, None, "x", True, float("inf")],
        "other": Unsendable("ndarray"),
    }
    out = roundtrip(obj)
    assert type(out["t"]) is torch.Tensor and torch.equal(out["t"], obj["t"])
    assert isinstance(out["pair"], tuple) and torch.equal(out["pair"][0], obj["pair"][0])
    assert out["bf16"].dtype == torch.bfloat16 and torch.equal(out["bf16"], obj["bf16"])
    assert out["empty"].shape == (0, 5) and out["scalar"].shape == ()
    assert out["plain"] == obj["plain"] and out["other"] == Unsendable("ndarray")


def test_non_contiguous_and_subclass_tensors_arrive_plain():
    class Sub(torch.Tensor):
        pass

    base = torch.arange(12.0).reshape(3, 4)
    out = roundtrip([base.t(), base.as_subclass(Sub)])
    assert type(out[1]) is torch.Tensor
    assert torch.equal(out[0], base.t()) and torch.equal(out[1], base)


def test_objects_are_refused():
    with pytest.raises(WireError):
        encode({"x": object()})
    with pytest.raises(WireError):
        encode({1: 2})


def body(header, blobs=b""):
    h = json.dumps(header).encode()
    return struct.pack(">I", len(h)) + h + blobs


@pytest.mark.parametrize("frame", [
    b"",
    b"\x00\x00\x00\x05{bad}",
    body({"data": {"__tensor__": 0, "dtype": "float32", "shape": [2]}, "sizes": [4]}, b"\x00" * 4),  # size mismatch
    body({"data": {"__tensor__": 1, "dtype": "float32", "shape": [1]}, "sizes": [4]}, b"\x00" * 4),  # bad index
    body({"data": {"__tensor__": 0, "dtype": "object", "shape": [1]}, "sizes": [8]}, b"\x00" * 8),  # bad dtype
    body({"data": {"__reduce__": "os.system"}, "sizes": []}),  # no such thing as an object
    body({"data": 1, "sizes": [3]}, b"\x00" * 2),  # truncated
])  # fmt: skip
def test_malformed_frames_are_refused(frame):
    with pytest.raises(WireError):
        decode(frame)

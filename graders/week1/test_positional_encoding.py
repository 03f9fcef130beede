"""Hidden checks for positional_encoding.py."""

import math

import torch

from coursekit.grading.checks import expect_close, expect_tensor, fail

PE = "positional_encoding.sinusoidal_positional_encoding"


def formula(max_len, d_model):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...), in float64."""
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i / d_model)
            pe[pos, i] = math.sin(angle)
            pe[pos, i + 1] = math.cos(angle)
    return pe


def test_pe_shape_dtype(student):
    for max_len, d_model in [(1, 2), (50, 16), (7, 64)]:
        pe = student.call(PE, max_len, d_model)["outputs"]
        expect_tensor(pe, f"sinusoidal_positional_encoding({max_len}, {d_model})", shape=(max_len, d_model), dtype=torch.get_default_dtype())
    devices = student.call(PE, 4, 8, device="meta")["devices"]
    if devices != ["meta"]:
        fail(f"sinusoidal_positional_encoding(4, 8, device='meta') made its table on {devices[0] if devices else 'no device'}: pass `device` on")


def test_pe_values(student):
    # float32 output; the angle pos / 10000^(2i/d) loses ~1e-7 relative precision in float32,
    # so the tolerance grows with the largest position used here (199).
    for max_len, d_model in [(10, 2), (64, 32), (200, 128), (33, 6)]:
        pe = student.call(PE, max_len, d_model)["outputs"]
        expect_tensor(pe, "the table", shape=(max_len, d_model))
        expect_close(pe, formula(max_len, d_model), "the table", atol=1e-4, rtol=0, case=f"max_len={max_len}, d_model={d_model}")

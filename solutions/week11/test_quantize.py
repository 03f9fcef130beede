"""Visible tests for quantize.py (the bonus part): run `pytest test_quantize.py`."""

import torch
from quantize import NF4_LEVELS, QLoRALinear, dequantize_int8, dequantize_nf4, quantize_int8, quantize_nf4
from torch import nn


def test_int8_round_trip_is_within_half_a_step():
    W = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
    W[2] = 0.0
    q, scale = quantize_int8(W)
    assert q.dtype == torch.int8 and scale.shape == (5, 1)
    torch.testing.assert_close(scale[:, 0], W.abs().amax(1) / 127)
    assert q.abs().max() == 127 and (q[2] == 0).all()
    error = (dequantize_int8(q, scale) - W).abs()
    assert (error <= scale / 2 + 1e-7).all()


def test_nf4_picks_the_nearest_level_in_each_block():
    W = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))  # 150 values: blocks of 64, 64, 22
    codes, absmax = quantize_nf4(W, block_size=64)
    assert codes.shape == (150,) and codes.dtype == torch.uint8 and absmax.shape == (3,)
    torch.testing.assert_close(absmax[2], W.flatten()[128:].abs().max())
    c = absmax.repeat_interleave(64)[:150]
    w = W.flatten() / c
    nearest = (w[:, None] - NF4_LEVELS).abs().argmin(1)
    assert torch.equal(codes.long(), nearest)
    torch.testing.assert_close(dequantize_nf4(codes, absmax, W.shape, 64), (NF4_LEVELS[nearest] * c).view(3, 50))


def test_nf4_beats_uniform_4bit_on_normal_weights():
    W = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    codes, absmax = quantize_nf4(W)
    nf4 = (dequantize_nf4(codes, absmax, W.shape) - W).pow(2).mean()
    uniform = torch.linspace(-1, 1, 16)
    c = absmax.repeat_interleave(64).view(W.shape)
    int4 = (uniform[((W / c)[..., None] - uniform).abs().argmin(-1)] * c - W).pow(2).mean()
    assert nf4 < int4, f"NF4 error {nf4:.2e}, uniform 4-bit {int4:.2e}"


def test_qlora_linear_trains_lora_only():
    torch.manual_seed(0)
    base = nn.Linear(32, 8)
    layer = QLoRALinear(base, r=2, alpha=4.0)
    assert sorted(n for n, _ in layer.named_parameters()) == ["lora_A", "lora_B"]
    assert layer.weight_codes.dtype == torch.uint8
    x = torch.randn(4, 32)
    W = dequantize_nf4(layer.weight_codes, layer.weight_absmax, (8, 32))
    torch.testing.assert_close(layer(x), x @ W.T + base.bias)
    assert (W - base.weight).abs().max() < 0.15 * base.weight.abs().max()  # half the widest gap, 1 - 0.72
    layer(x).sum().backward()
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None

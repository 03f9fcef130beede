"""Visible tests for multi_head_attention.py: run `pytest test_multi_head_attention.py`."""

import torch
from torch import nn

from attention import causal_mask
from multi_head_attention import MultiHeadAttention


def test_mha_projections():
    mha = MultiHeadAttention(d_model=16, num_heads=4)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        layer = getattr(mha, name)
        assert isinstance(layer, nn.Linear), f"{name} should be an nn.Linear"
        assert layer.weight.shape == (16, 16), f"{name}.weight has shape {tuple(layer.weight.shape)}"
    assert MultiHeadAttention(16, 4, bias=False).q_proj.bias is None, "bias=False should give bias-free projections"


def test_mha_output_shapes():
    mha = MultiHeadAttention(d_model=16, num_heads=4)
    query, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    out, weights = mha(query, memory, memory)
    assert out.shape == (2, 5, 16), f"out has shape {tuple(out.shape)}, expected (B, Lq, d_model)"
    assert weights.shape == (2, 4, 5, 7), f"weights have shape {tuple(weights.shape)}, expected (B, H, Lq, Lk)"


def test_mha_one_head_is_plain_attention():
    # With one head and identity projections, multi-head attention is attention itself.
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=4, num_heads=1, bias=False)
    with torch.no_grad():
        for layer in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            layer.weight.copy_(torch.eye(4))
    x = torch.randn(1, 3, 4)
    out, weights = mha(x, x, x)
    expected_weights = torch.softmax(x @ x.transpose(1, 2) / 2.0, dim=-1)  # sqrt(d_head) = 2
    torch.testing.assert_close(weights[:, 0], expected_weights)
    torch.testing.assert_close(out, expected_weights @ x)


def test_mha_causal_mask_hides_the_future():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    x = torch.randn(1, 6, 8)
    out, weights = mha(x, x, x, mask=causal_mask(6))
    assert (weights.triu(diagonal=1) == 0).all(), "no weight may fall on a future position"
    x2 = x.clone()
    x2[:, 4:] += 1.0  # change the future
    out2, _ = mha(x2, x2, x2, mask=causal_mask(6))
    torch.testing.assert_close(out[:, :4], out2[:, :4])

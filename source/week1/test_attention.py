"""Visible tests for attention.py: run `pytest test_attention.py`."""

import math

import torch

from attention import causal_mask, scaled_dot_product_attention


def test_sdpa_output_shapes():
    q = torch.randn(2, 3, 5, 8)  # (B, H, Lq, d_k)
    k = torch.randn(2, 3, 7, 8)  # (B, H, Lk, d_k)
    v = torch.randn(2, 3, 7, 4)  # (B, H, Lk, d_v)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5, 4), f"out has shape {tuple(out.shape)}, expected (..., Lq, d_v)"
    assert weights.shape == (2, 3, 5, 7), f"weights have shape {tuple(weights.shape)}, expected (..., Lq, Lk)"


def test_sdpa_small_case_by_hand():
    # One query, two keys. Scores are q.k / sqrt(2) = [2/sqrt(2), 0] = [sqrt(2), 0].
    q = torch.tensor([[1.0, 1.0]])
    k = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    v = torch.tensor([[10.0], [20.0]])
    out, weights = scaled_dot_product_attention(q, k, v)
    w0 = math.exp(math.sqrt(2)) / (math.exp(math.sqrt(2)) + 1.0)
    torch.testing.assert_close(weights, torch.tensor([[w0, 1.0 - w0]]))
    torch.testing.assert_close(out, torch.tensor([[10.0 * w0 + 20.0 * (1.0 - w0)]]))


def test_sdpa_weights_are_a_distribution():
    torch.manual_seed(0)
    q, k, v = torch.randn(4, 6, 16), torch.randn(4, 9, 16), torch.randn(4, 9, 16)
    _, weights = scaled_dot_product_attention(q, k, v)
    assert (weights >= 0).all(), "attention weights must be non-negative"
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 6))


def test_sdpa_mask_blocks_keys():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 8), torch.randn(1, 4, 8), torch.randn(1, 4, 8)
    mask = torch.tensor([True, True, False, False])  # only the first two keys may be attended to
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert (weights[..., 2:] == 0).all(), "masked keys (mask False) must get weight exactly 0"
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 4))
    torch.testing.assert_close(out, weights[..., :2] @ v[:, :2])


def test_sdpa_fully_masked_row_is_zero_not_nan():
    q, k, v = torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert not torch.isnan(out).any(), "a query with no allowed key must give 0, not NaN"
    assert (weights[1] == 0).all() and (out[1] == 0).all()


def test_causal_mask():
    expected = torch.tensor([[True, False, False], [True, True, False], [True, True, True]])
    mask = causal_mask(3)
    assert mask.dtype == torch.bool, f"causal_mask must be boolean, got {mask.dtype}"
    assert torch.equal(mask, expected)

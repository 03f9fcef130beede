"""Visible tests for layer_norm.py: run `pytest test_layer_norm.py`."""

import torch
from layer_norm import LayerNorm, layer_norm
from torch.nn import functional as F


def test_layer_norm_small_case_by_hand():
    # One row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    weight, bias = torch.ones(4), torch.zeros(4)
    expected = (x - 2.5) / torch.sqrt(torch.tensor(1.25 + 1e-5))
    torch.testing.assert_close(layer_norm(x, weight, bias), expected)


def test_layer_norm_rows_are_standardized():
    x = torch.randn(2, 5, 16) * 3 + 7  # (B, T, C)
    y = layer_norm(x, torch.ones(16), torch.zeros(16))
    assert y.shape == x.shape, f"output has shape {tuple(y.shape)}, expected {tuple(x.shape)}"
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(2, 5), atol=1e-3, rtol=0)


def test_layer_norm_matches_torch():
    x, weight, bias = torch.randn(3, 4, 10), torch.randn(10), torch.randn(10)
    torch.testing.assert_close(layer_norm(x, weight, bias), F.layer_norm(x, (10,), weight, bias))


def test_layer_norm_module_parameters():
    ln = LayerNorm(8)
    names = sorted(n for n, _ in ln.named_parameters())
    assert names == ["bias", "weight"], f"LayerNorm's parameters are {names}, expected bias and weight"
    assert torch.equal(ln.weight, torch.ones(8)) and torch.equal(ln.bias, torch.zeros(8))
    x = torch.randn(4, 8)
    torch.testing.assert_close(ln(x), F.layer_norm(x, (8,)))

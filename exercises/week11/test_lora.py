"""Visible tests for lora.py: run `pytest test_lora.py`."""

import torch
from lora import LoRALinear, count_trainable_parameters, inject_lora
from torch import nn


def lora_layer(d_in=6, d_out=4, r=2, alpha=4.0, bias=True, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return LoRALinear(nn.Linear(d_in, d_out, bias=bias).double(), r, alpha, dropout).double()


def test_starts_equal_to_the_base_layer():
    layer = lora_layer(dropout=0.5)
    assert layer.lora_A.shape == (2, 6) and layer.lora_B.shape == (4, 2)
    assert (layer.lora_B == 0).all(), "B starts at zero"
    assert layer.lora_A.abs().sum() > 0, "A starts random"
    x = torch.randn(3, 6, dtype=torch.float64)
    for mode in (True, False):
        layer.train(mode)
        torch.testing.assert_close(layer(x), layer.base(x))


def test_forward_adds_the_scaled_low_rank_update():
    layer = lora_layer(r=2, alpha=6.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    W, b, A, B = layer.base.weight, layer.base.bias, layer.lora_A, layer.lora_B
    expected = x @ W.T + b + x @ A.T @ B.T * (6.0 / 2)
    torch.testing.assert_close(layer(x), expected)
    assert layer.scaling == 3.0


def test_only_lora_parameters_get_gradients():
    layer = lora_layer()
    with torch.no_grad():
        layer.lora_B.normal_()
    layer(torch.randn(3, 6, dtype=torch.float64)).sum().backward()
    assert layer.base.weight.grad is None and layer.base.bias.grad is None
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None


def test_merge_and_unmerge_round_trip():
    layer = lora_layer().eval()
    with torch.no_grad():
        layer.lora_B.normal_()
    W = layer.base.weight.detach().clone()
    x = torch.randn(3, 6, dtype=torch.float64)
    before = layer(x)
    layer.merge()
    assert layer.merged
    torch.testing.assert_close(layer.base.weight, W + layer.lora_B @ layer.lora_A * layer.scaling)
    torch.testing.assert_close(layer(x), before)
    layer.unmerge()
    assert not layer.merged
    torch.testing.assert_close(layer.base.weight, W)
    torch.testing.assert_close(layer(x), before)


def test_inject_lora_matches_suffixes_and_freezes_the_rest():
    torch.manual_seed(0)
    attn = nn.ModuleDict({"q": nn.Linear(4, 4), "qk": nn.Linear(4, 4), "v": nn.Linear(4, 4)})
    model = nn.ModuleDict({"attn": attn, "head": nn.Linear(4, 2)})

    def run(x):
        return model["head"](sum(model["attn"][name](x) for name in ("q", "qk", "v")))

    x = torch.randn(5, 4)
    before = run(x)
    total = count_trainable_parameters(model)
    assert total == sum(p.numel() for p in model.parameters())
    assert inject_lora(model, ["q", "v"], r=2, alpha=4.0) is model
    assert isinstance(model.attn["q"], LoRALinear) and isinstance(model.attn["v"], LoRALinear)
    assert isinstance(model.attn["qk"], nn.Linear), "'q' is a substring of 'attn.qk', not a suffix"
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == ["attn.q.lora_A", "attn.q.lora_B", "attn.v.lora_A", "attn.v.lora_B"]
    assert count_trainable_parameters(model) == 2 * (2 * 4 + 4 * 2)
    torch.testing.assert_close(run(x), before)

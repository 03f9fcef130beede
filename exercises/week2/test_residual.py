"""Visible tests for residual.py: run `pytest test_residual.py`."""

import os
import tempfile

import torch
from residual import DeepMLP, ResidualBlock, gradient_norms, plot_gradient_flow, plot_norm_statistics


def test_block_shapes_and_parameters():
    for norm in (None, "layer", "batch"):
        block = ResidualBlock(8, norm=norm)
        assert block(torch.randn(5, 8)).shape == (5, 8)
        names = sorted(n for n, _ in block.named_parameters())
        expected = ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"] + (["norm.bias", "norm.weight"] if norm else [])
        assert names == sorted(expected), f"norm={norm}: parameters {names}"


def test_residual_block_with_zero_branch_is_the_identity():
    block = ResidualBlock(6, norm="layer", residual=True)
    with torch.no_grad():
        block.fc2.weight.zero_()
        block.fc2.bias.zero_()
    x = torch.randn(3, 6)
    torch.testing.assert_close(block(x), x)
    block.residual = False
    torch.testing.assert_close(block(x), torch.zeros(3, 6))


def test_deep_mlp_shapes():
    model = DeepMLP(10, 16, 4, 3, norm="batch")
    assert isinstance(model.blocks, torch.nn.ModuleList) and len(model.blocks) == 4
    assert model(torch.randn(7, 10)).shape == (7, 3)


def test_skip_connections_keep_the_gradient_alive():
    x, y = torch.randn(32, 8), torch.randn(32, 2)
    torch.manual_seed(0)
    plain = gradient_norms(DeepMLP(8, 32, 20, 2, residual=False), x, y)
    torch.manual_seed(0)
    skip = gradient_norms(DeepMLP(8, 32, 20, 2, residual=True), x, y)
    assert len(plain) == len(skip) == 20 and all(isinstance(g, float) for g in skip)
    assert plain[0] / plain[-1] < 1e-6, "without skips the first block's gradient should all but vanish"
    assert skip[0] / skip[-1] > 0.1, "with skips the first block's gradient should stay comparable to the last's"


def test_plots_are_written():
    with tempfile.TemporaryDirectory() as folder:
        plot_gradient_flow(os.path.join(folder, "gradient_flow.png"), depth=8, width=16)
        plot_norm_statistics(os.path.join(folder, "norm_statistics.png"))
        assert sorted(os.listdir(folder)) == ["gradient_flow.png", "norm_statistics.png"]

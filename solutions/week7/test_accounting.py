"""Visible tests for accounting.py: run `pytest test_accounting.py`."""

from accounting import (
    GPT3_SIZES,
    PF_DAY,
    activation_bytes,
    count_parameters,
    forward_flops_per_token,
    gpt3_config,
    model_state_bytes,
    training_flops,
    training_flops_per_token,
)  # fmt: skip
from gpt import GPT, GPTConfig


def built_count(config):
    return sum(p.numel() for p in GPT(config).parameters())  # the tied lm_head / wte tensor is listed once


def test_count_matches_a_built_model():
    for bias in (True, False):
        config = GPTConfig(vocab_size=37, block_size=11, n_layer=3, n_head=2, n_embd=10, bias=bias)
        assert count_parameters(config) == built_count(config), f"bias={bias}"


def test_non_embedding_leaves_out_both_embeddings():
    config = GPTConfig(vocab_size=37, block_size=11, n_layer=3, n_head=2, n_embd=10)
    assert count_parameters(config, non_embedding=True) == count_parameters(config) - (37 + 11) * 10


def test_gpt3_sizes():
    n = count_parameters(gpt3_config("175b"))
    assert abs(n - 174.6e9) < 0.05e9, f"GPT-3 175B: {n / 1e9:.2f}B parameters"
    for name, (*_, published) in GPT3_SIZES.items():
        n = count_parameters(gpt3_config(name))
        assert abs(n - published) <= 0.02 * published, f"{name}: {n / 1e9:.3f}B, the paper says {published / 1e9:.3g}B"


def test_flops_of_gpt3():
    config = gpt3_config("175b")
    N = count_parameters(config, non_embedding=True)
    assert forward_flops_per_token(config) == 2 * N + 2 * 96 * 2048 * 12288
    assert training_flops_per_token(config) == 3 * forward_flops_per_token(config)
    compute = training_flops(count_parameters(config), 300e9)
    assert abs(compute - 3.14e23) < 0.01 * 3.14e23, f"{compute:.3g} FLOPs"
    assert abs(compute / PF_DAY - 3640) < 40, f"{compute / PF_DAY:.0f} PF-days (Table D.1: 3640)"


def test_sixteen_bytes_per_parameter():
    fp32, mixed = model_state_bytes(1000, "fp32"), model_state_bytes(1000, "mixed")
    assert fp32 == {"weights": 4000.0, "gradients": 4000.0, "optimizer": 8000.0, "total": 16000.0}
    assert mixed == {"weights": 2000.0, "gradients": 2000.0, "optimizer": 12000.0, "total": 16000.0}


def test_zero_figure_1():
    totals = [model_state_bytes(7.5e9, "mixed", zero_stage=s, n_devices=64)["total"] / 1e9 for s in range(4)]
    for got, paper in zip(totals, [120, 31.4, 16.6, 1.9]):
        assert abs(got - paper) <= 0.02 * paper, f"{totals} GB, ZeRO's Figure 1 says 120, 31.4, 16.6, 1.9"


def test_activation_bytes():
    config = GPTConfig(vocab_size=10, block_size=16, n_layer=2, n_head=4, n_embd=8)
    s, b, h, a = 16, 3, 8, 4
    assert activation_bytes(config, b) == 2 * (34 * s * b * h + 5 * a * s * s * b)
    assert activation_bytes(config, b, seq_len=5, recompute="selective") == 2 * 34 * 5 * b * h
    assert activation_bytes(config, b, recompute="full") == 2 * 2 * s * b * h

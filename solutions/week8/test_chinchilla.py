"""Visible tests for chinchilla.py: run `pytest test_chinchilla.py`."""

import pytest
from chinchilla import (
    TABLE_3,
    chinchilla_loss,
    compute_optimal_gap,
    optimal_allocation_parametric,
    optimal_allocation_rule,
    training_cost,
    training_flops,
)  # fmt: skip


def test_gpt3_training_flops():
    assert training_flops(175e9, 300e9) == pytest.approx(3.15e23)


def test_chinchilla_loss_at_chinchilla():
    assert chinchilla_loss(70e9, 1.4e12) == pytest.approx(1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28)


def test_rule_gives_chinchilla_and_table_3():
    n, d = optimal_allocation_rule(5.76e23)
    assert n == pytest.approx(70e9, rel=0.05) and d == pytest.approx(1.4e12, rel=0.05)
    for params, flops, tokens in TABLE_3:
        n, d = optimal_allocation_rule(flops)
        assert n == pytest.approx(params, rel=0.1) and d == pytest.approx(tokens, rel=0.1), f"Table 3 row {params:.3g}"


def test_parametric_split_is_the_minimum():
    C = 1e22
    n, d = optimal_allocation_parametric(C)
    assert 6 * n * d == pytest.approx(C)
    best = chinchilla_loss(n, d)
    for factor in (0.5, 0.9, 1.1, 2.0):  # move along the line C = 6ND: the loss only goes up
        assert chinchilla_loss(n * factor, d / factor) > best


def test_gpt3_cost_and_gap():
    cost = training_cost(training_flops(175e9, 300e9), gpu="V100", precision="fp16", mfu=0.3, n_gpus=1024)
    assert cost["gpu_hours"] == pytest.approx(2.33e6, rel=0.01)
    assert cost["days"] == pytest.approx(95, rel=0.01)
    gap = compute_optimal_gap(175e9, 300e9)
    assert gap["tokens_per_param"] == pytest.approx(1.71, rel=0.01)
    assert gap["oversize"] == pytest.approx(3.4, rel=0.02), "GPT-3 is about 3.4 times too big for its budget"
    assert gap["loss_opt"] < gap["loss"]

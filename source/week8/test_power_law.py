"""Visible tests for power_law.py: run `pytest test_power_law.py`."""

import pytest
import torch
from power_law import fit_power_law, log_squared_error, power_law


def law_points(a=5e3, alpha=0.3, c=1.5, noise=0.0, seed=0):
    """12 runs from N = 1e3 to 1e9 of L(N) = a N^-alpha + c, times exp(noise * N(0, 1))."""
    x = torch.logspace(3, 9, 12, dtype=torch.float64)
    loss = a * x ** (-alpha) + c
    g = torch.Generator().manual_seed(seed)
    return x, loss * torch.exp(noise * torch.randn(12, generator=g, dtype=torch.float64))


def test_power_law_values():
    x = torch.tensor([1.0, 100.0, 1e4], dtype=torch.float64)
    torch.testing.assert_close(power_law(x, 2.0, 0.5, 1.0), torch.tensor([3.0, 1.2, 1.02], dtype=torch.float64))


def test_log_squared_error():
    x, loss = law_points()
    assert log_squared_error(x, loss, 5e3, 0.3, 1.5) == pytest.approx(0.0, abs=1e-20)
    expected = float(((loss.log() - torch.log(2 * 5e3 * x**-0.3 + 1.5)) ** 2).sum())
    assert log_squared_error(x, loss, 1e4, 0.3, 1.5) == pytest.approx(expected, rel=1e-12)


def test_fit_recovers_a_noise_free_law():
    x, loss = law_points()
    a, alpha, c = fit_power_law(x, loss)
    assert alpha == pytest.approx(0.3, rel=1e-3), "alpha: the exponent of x^(-alpha), positive when the loss falls"
    assert c == pytest.approx(1.5, rel=1e-3), "c: the irreducible loss"
    assert a == pytest.approx(5e3, rel=1e-2), "a: the coefficient itself, not its logarithm"


def test_fit_with_noise_needs_the_irreducible_term():
    x, loss = law_points(noise=0.01, seed=1)
    _, alpha, c = fit_power_law(x.flip(0), loss.flip(0))  # any order
    pure_alpha = -torch.linalg.lstsq(torch.stack([torch.ones(12), x.log()], 1).double(), loss.log()[:, None]).solution[
        1
    ]
    assert alpha == pytest.approx(0.3, rel=0.15), (
        f"alpha {alpha:.3f}; a pure power law (no c) gives {float(pure_alpha):.3f}"
    )
    assert c == pytest.approx(1.5, rel=0.15)


def test_fit_keeps_c_nonnegative():
    x, loss = law_points(c=0.0, noise=0.03, seed=2)
    a, alpha, c = fit_power_law(x.tolist(), loss.tolist())  # lists work too
    assert c >= 0.0
    assert a > 0 and 0.2 < alpha < 0.4


def test_fit_rejects_what_it_cannot_fit():
    with pytest.raises(ValueError):
        fit_power_law([1e3, 1e4], [3.0, 2.0])
    with pytest.raises(ValueError):
        fit_power_law([1e3, 1e4, 1e5], [3.0, 2.0, -1.0])

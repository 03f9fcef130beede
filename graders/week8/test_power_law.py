"""Hidden checks for power_law.py: the law, its objective, and the fitter on synthetic runs.

The runs come from random laws L(x) = a x^(-alpha) + c (coursekit.grading.week8_toys)
measured at sizes that span the ranges of N, D and C (10^2 to 10^22), with and
without multiplicative noise. The spec fixes what the fit minimises,
S = Σ (ln L - ln(a x^-alpha + c))^2 over a > 0, c >= 0, so the checks are:

- noise-free runs (alpha from 0.1 to 0.8): the fit recovers the law (alpha
  within 0.1%, c within 0.1% of the smallest loss, the curve within 0.1% at
  every point);
- noisy runs (0.5-1% noise, sizes that reach the flat end of the curve): alpha
  and c within 15% of the truth (the reference: under 5% on 1000 random draws;
  a pure power law without c: over 30% off);
- the fit's S is within 1% of the minimum (found by the reference fitter, itself
  checked against a brute-force profile over c), including runs where least
  squares in L instead of ln L lands far from it;
- c >= 0 on pure power laws, where the unconstrained minimum has c < 0;
- any order (the same alpha and c within 0.1% for shuffled points), repeated
  sizes, 3 points, lists, float32, untouched inputs, and a ValueError for
  inputs that cannot be fitted.
"""

import ast
import math

import torch

from coursekit.grading import week8_toys as toys
from coursekit.grading.checks import expect_close, expect_tensor, fail
from coursekit.grading.client import StudentError
from coursekit.grading.wire import Unsendable

FIT = "power_law.fit_power_law"
LIBRARIES = {"scipy", "sklearn", "statsmodels", "lmfit", "symfit"}
EXACT = 1e-3  # noise-free: relative error of alpha, of the curve, and of c (as a share of the smallest loss)
NOISY = 0.15  # noisy runs: relative error of alpha and of c against the true law
S_EXCESS = 0.01  # the fit's S may exceed the minimum by 1% (plus 1e-12)
RANGES = [(2.0, 4.0), (5.0, 8.0), (8.0, 11.0), (12.0, 16.0)]  # log10 of the smallest size: N-, D- and C-like


def refuse_fitting_libraries(student):
    try:
        tree = ast.parse(student.submission.source("power_law.py"))
    except SyntaxError:
        return
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        used = sorted({n.split(".")[0] for n in names} & LIBRARIES)
        if used:
            fail(f"power_law.py imports {used[0]}: write the fit with torch or numpy only")


def number(x, what):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        got = x.what if isinstance(x, Unsendable) else type(x).__name__
        fail(f"{what} should be a Python float (or int), got {got}")
    if not math.isfinite(x):
        fail(f"{what} is {x}")
    return float(x)


def fit(student, x, loss, **kwargs):
    """The student's (a, alpha, c) for the points (x, loss), as floats."""
    refuse_fitting_libraries(student)
    answer = student.call(FIT, x, loss, **kwargs, watch=False)
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail("fit_power_law should return the three numbers (a, alpha, c)")
    a, alpha, c = (number(v, f"fit_power_law's {n}") for v, n in zip(out, ("a", "alpha", "c")))
    if not a > 0:
        fail(f"fit_power_law returned a = {a:g}: a must be positive")
    return (a, alpha, c), answer


def minimum(ref, x, loss):
    """The least S over a > 0, c >= 0 (the reference fit)."""
    return toys.log_squared_error(x, loss, *ref.power_law.fit_power_law(x, loss))


def expect_minimum(student_fit, ref, x, loss, case):
    s = toys.log_squared_error(x, loss, *student_fit)
    best = minimum(ref, x, loss)
    if not s <= best * (1 + S_EXCESS) + 1e-12:
        fail(
            f"fit_power_law does not minimise S = Σ (ln L - ln(a x^-alpha + c))^2: its S is {s:.4g}, the minimum "
            f"is {best:.4g} [{case}]"
        )


def expect_law(student_fit, law, loss, case):
    """A noise-free fit recovers the law that made the points."""
    a, alpha, c = student_fit
    if not abs(alpha - law["alpha"]) <= EXACT * law["alpha"]:
        fail(f"fit_power_law's alpha is {alpha:.5g}, the points come from alpha = {law['alpha']:.5g} [{case}]")
    if not abs(c - law["c"]) <= EXACT * float(loss.min()):
        fail(f"fit_power_law's c is {c:.5g}, the points come from c = {law['c']:.5g} [{case}]")
    curve = a * torch.exp(-alpha * torch.log(law["x"])) + c
    worst = float(((curve - loss).abs() / loss).max())
    if not worst <= EXACT:
        fail(f"the fitted curve a x^-alpha + c misses the points by up to {worst:.2%} (check a) [{case}]")


def test_power_law_values(student, gen):
    for shape in [(7,), (3, 4)]:
        x = 10 ** (torch.rand(shape, generator=gen, dtype=torch.float64) * 12)
        a, alpha, c = (
            50 * float(torch.rand((), generator=gen)) + 1,
            0.05 + 0.7 * float(torch.rand((), generator=gen)),
            1.7,
        )
        out = expect_tensor(student.call("power_law.power_law", x, a, alpha, c, watch=False)["outputs"], "power_law(x, a, alpha, c)",
                            shape=shape, dtype=torch.float64)  # fmt: skip
        expect_close(out, a * x ** (-alpha) + c, "power_law", atol=0, rtol=1e-10, case=f"x of shape {shape}")
    x32 = torch.tensor([1.0, 10.0, 1000.0], dtype=torch.float32)
    out = expect_tensor(student.call("power_law.power_law", x32, 2.0, 0.5, 1.0, watch=False)["outputs"], "power_law on float32",
                        dtype=torch.float32)  # fmt: skip
    expect_close(out, 2.0 * x32.double() ** -0.5 + 1.0, "power_law on float32", atol=0, rtol=1e-6)
    value = number(
        student.call("power_law.power_law", 1e6, 400.0, 0.34, 1.69, watch=False)["outputs"], "power_law(1e6, ...)"
    )
    if not math.isclose(value, 400.0 * 1e6**-0.34 + 1.69, rel_tol=1e-12):
        fail(f"power_law(1e6, 400, 0.34, 1.69) is {value:.6g}, expected {400.0 * 1e6**-0.34 + 1.69:.6g}")


def test_log_error_objective(student, gen):
    for start in (2.0, 9.0, 18.0):
        law = toys.random_law(gen, start=(start, start))
        loss = toys.measure(law, gen, sigma=0.05)
        params = (law["a"] * 1.3, law["alpha"] * 0.9, law["c"] * 0.8)
        got = number(
            student.call("power_law.log_squared_error", law["x"], loss, *params, watch=False)["outputs"],
            "log_squared_error",
        )
        want = toys.log_squared_error(law["x"], loss, *params)
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15):
            fail(
                f"log_squared_error is {got:.6g}, expected Σ (ln L - ln(a x^-alpha + c))^2 = {want:.6g} "
                f"[sizes from 10^{start:g}]"
            )


def test_fit_exact_recovery(student, gen):
    for i in range(8):
        law = toys.random_law(gen, alpha=(0.1, 0.8), start=RANGES[i % len(RANGES)])
        loss = toys.measure(law)
        got, _ = fit(student, law["x"], loss)
        expect_law(got, law, loss, f"noise-free run {i + 1}: {len(loss)} points from 10^{math.log10(law['x'][0]):.1f}")


def test_fit_noisy_recovery(student, gen):
    for i in range(8):
        law = toys.random_law(gen, alpha=(0.2, 0.7), ratio=(3, 20), end_ratio=(0.05, 0.3), n=(10, 20),
                              start=RANGES[i % len(RANGES)])  # fmt: skip
        sigma = 0.005 if i % 2 else 0.01
        loss = toys.measure(law, gen, sigma)
        (_, alpha, c), _ = fit(student, law["x"], loss)
        case = f"run {i + 1}: {len(loss)} points, {sigma:.1%} noise"
        if not abs(alpha - law["alpha"]) <= NOISY * law["alpha"]:
            fail(f"fit_power_law's alpha is {alpha:.4g}, the points come from alpha = {law['alpha']:.4g} [{case}]")
        if not abs(c - law["c"]) <= NOISY * law["c"]:
            fail(f"fit_power_law's c is {c:.4g}, the points come from c = {law['c']:.4g} [{case}]")


def test_fit_minimises_log_error(student, ref, gen):
    # Losses spanning three decades, where least squares in L would fit the first points and miss the tail.
    wide = {"x": torch.logspace(2, 8, 13, dtype=torch.float64), "a": 3000.0 * 100**0.5, "alpha": 0.5, "c": 1.0}
    cases = [(wide, 0.05)] + [(toys.random_law(gen, start=RANGES[i % len(RANGES)]), 0.03) for i in range(5)]
    for i, (law, sigma) in enumerate(cases):
        loss = toys.measure(law, gen, sigma)
        got, _ = fit(student, law["x"], loss)
        expect_minimum(got, ref, law["x"], loss, f"run {i + 1}: {len(loss)} points, {sigma:.0%} noise")


def test_fit_irreducible_nonnegative(student, ref, gen):
    law = toys.random_law(gen, zero_c=True, start=(5, 8), decades=(3, 4), n=(8, 8))
    loss = toys.measure(law)
    (_, alpha, c), _ = fit(student, law["x"], loss)
    if not 0 <= c <= 1e-6 * float(loss.min()):
        fail(f"on a pure power law (c = 0) fit_power_law returns c = {c:.3g}")
    if not abs(alpha - law["alpha"]) <= EXACT * law["alpha"]:
        fail(f"on a pure power law fit_power_law's alpha is {alpha:.5g}, the points come from {law['alpha']:.5g}")
    # a power law whose tail bends down: the unconstrained minimum has c < 0
    bent = {"x": torch.logspace(3, 7, 9, dtype=torch.float64), "a": 10.0, "alpha": 0.3, "c": 0.0}
    bend = torch.tensor([1, 1, 1, 1, 1, 0.99, 0.98, 0.965, 0.95], dtype=torch.float64)
    cases = [(bent, toys.measure(bent) * bend)]
    for i in range(4):
        law = toys.random_law(gen, zero_c=True, start=RANGES[i], n=(6, 10))
        cases.append((law, toys.measure(law, gen, sigma=0.02)))
    for i, (law, loss) in enumerate(cases):
        got, _ = fit(student, law["x"], loss)
        if not got[2] >= 0:
            fail(
                f"fit_power_law returns c = {got[2]:.3g} < 0: the irreducible loss is constrained to c >= 0 [pure power law {i + 1}]"
            )
        expect_minimum(
            got, ref, law["x"], loss, "a pure power law bending down" if i == 0 else f"pure power law {i}, 2% noise"
        )


def expect_value_error(student, x, loss, case):
    try:
        student.call(FIT, x, loss, watch=False)
    except StudentError as exc:
        if str(exc).startswith("your code raised ValueError"):
            return
        fail(f"fit_power_law should raise ValueError for {case}, not: {exc}")
    fail(f"fit_power_law should raise ValueError for {case}")


def test_fit_degenerate_inputs(student, ref, gen):
    law = toys.random_law(gen, start=(6, 7), n=(9, 9))
    loss = toys.measure(law, gen, sigma=0.02)
    base, answer = fit(student, law["x"], loss, return_inputs=True)
    if answer.get("inputs_changed"):
        fail(f"fit_power_law modified its input {answer['inputs_changed'][0]} in place")
    expect_minimum(base, ref, law["x"], loss, "sorted sizes")
    for k in range(2):
        order = torch.randperm(len(loss), generator=gen)
        got, answer = fit(student, law["x"][order], loss[order], return_inputs=True)
        if answer.get("inputs_changed"):
            fail(f"fit_power_law modified its input {answer['inputs_changed'][0]} in place (unsorted sizes)")
        if not (abs(got[1] - base[1]) <= 1e-3 * abs(base[1]) and abs(got[2] - base[2]) <= 1e-3 * float(loss.min())):
            fail(
                f"shuffling the points changes the fit: alpha {base[1]:.6g} -> {got[1]:.6g}, c {base[2]:.6g} -> {got[2]:.6g}"
            )
    got, _ = fit(student, law["x"].tolist(), loss.tolist())
    expect_minimum(got, ref, law["x"], loss, "Python lists")
    x32, loss32 = law["x"].float(), loss.float()
    got, _ = fit(student, x32, loss32)
    expect_minimum(got, ref, x32.double(), loss32.double(), "float32 tensors")
    # repeated sizes: three seeds per model size
    seeds = toys.random_law(gen, start=(3, 4), decades=(3, 4), n=(5, 5))
    seeds["x"] = seeds["x"].repeat_interleave(3)
    loss = toys.measure(seeds, gen, sigma=0.02)
    got, _ = fit(student, seeds["x"], loss)
    expect_minimum(got, ref, seeds["x"], loss, "three runs at each of 5 sizes")
    # three points determine the law
    three = toys.random_law(gen, start=(4, 5), decades=(3, 3), n=(3, 3))
    loss = toys.measure(three)
    got, _ = fit(student, three["x"], loss)
    expect_law(got, three, loss, "3 noise-free points")
    ok = torch.tensor([1e3, 1e4, 1e5, 1e6], dtype=torch.float64)
    expect_value_error(student, ok[:2], torch.tensor([3.0, 2.0], dtype=torch.float64), "2 points")
    expect_value_error(student, ok, torch.tensor([3.0, 2.0, 0.0, 1.5], dtype=torch.float64), "a loss of 0")
    expect_value_error(student, torch.tensor([0.0, 1e4, 1e5, 1e6], dtype=torch.float64),
                       torch.tensor([3.0, 2.0, 1.8, 1.5], dtype=torch.float64), "a size of 0")  # fmt: skip
    expect_value_error(
        student, ok, torch.tensor([3.0, 2.0, 1.8], dtype=torch.float64), "x and loss of different lengths"
    )

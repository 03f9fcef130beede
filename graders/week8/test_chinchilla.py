"""Hidden checks for chinchilla.py: compute, the parametric loss, the two compute-optimal splits, hardware cost.

Exact formulas are compared with the grader's own in float64 (relative
tolerance 1e-9; 1e-4 for the parametric minimiser, which a numeric search may
find instead of the closed form), on the paper's constants and on random ones,
for Python floats and elementwise for float64 tensors. The paper's own figures
are checked with stated tolerances: the 20-tokens rule at Gopher's budget
(5.76e23 FLOPs) gives Chinchilla's 70B parameters and 1.4T tokens within 5%,
and every row of Table 3 within 10% (the table comes from approach 1's fit,
which is close to, not exactly, 20 tokens per parameter).
"""

import math

import torch

from coursekit.grading.checks import expect_close, expect_tensor, fail
from coursekit.grading.wire import Unsendable

PAPER = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
TABLE_3 = [
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]
PEAK = {("V100", "fp16"): 125e12, ("V100", "fp32"): 15.7e12, ("A100", "bf16"): 312e12, ("A100", "tf32"): 156e12,
        ("A100", "fp32"): 19.5e12, ("H100", "bf16"): 989.4e12, ("H100", "fp32"): 67e12}  # fmt: skip
EXACT = 1e-9
ARGMIN = 1e-4


def number(x, what):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        got = x.what if isinstance(x, Unsendable) else type(x).__name__
        fail(f"{what} should be a Python float (or int), got {got}")
    if not math.isfinite(x):
        fail(f"{what} is {x}")
    return float(x)


def pair(out, what):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{what} should return a pair (n_opt, d_opt)")
    return out


def expect_number(got, want, what, rtol=EXACT, case=""):
    got = number(got, what)
    if not math.isclose(got, want, rel_tol=rtol):
        fail(f"{what} is {got:.6g}, expected {want:.6g}" + (f" [{case}]" if case else ""))


def loss(n, d, E, A, B, alpha, beta):
    return E + A / n**alpha + B / d**beta


def closed_form(flops, A, B, alpha, beta):
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    return G * (flops / 6) ** (beta / (alpha + beta)), (flops / 6) ** (alpha / (alpha + beta)) / G


def random_constants(gen):
    u = torch.rand(5, generator=gen, dtype=torch.float64).tolist()
    return {
        "E": 1 + u[0],
        "A": 100 + 900 * u[1],
        "B": 100 + 900 * u[2],
        "alpha": 0.2 + 0.4 * u[3],
        "beta": 0.2 + 0.4 * u[4],
    }


def test_training_flops(student, gen):
    for n, d in [(175e9, 300e9), (70e9, 1.4e12), (1.3e6, 2.7e7)]:
        expect_number(student.call("chinchilla.training_flops", n, d, watch=False)["outputs"], 6 * n * d, "training_flops",
                      case=f"N = {n:.3g}, D = {d:.3g}")  # fmt: skip
    n = 10 ** (6 + 6 * torch.rand(5, generator=gen, dtype=torch.float64))
    d = 10 ** (8 + 5 * torch.rand(5, generator=gen, dtype=torch.float64))
    out = expect_tensor(
        student.call("chinchilla.training_flops", n, d, watch=False)["outputs"], "training_flops on tensors", shape=(5,)
    )
    expect_close(out, 6 * n * d, "training_flops on tensors", atol=0, rtol=EXACT)


def test_chinchilla_loss(student, gen):
    for n, d in [(70e9, 1.4e12), (280e9, 300e9), (175e9, 300e9)]:
        got = student.call("chinchilla.chinchilla_loss", n, d, watch=False)["outputs"]
        expect_number(
            got, loss(n, d, **PAPER), "chinchilla_loss with the paper's constants", case=f"N = {n:.3g}, D = {d:.3g}"
        )
    for _ in range(3):
        k = random_constants(gen)
        n = 10 ** (6 + 6 * torch.rand(4, generator=gen, dtype=torch.float64))
        d = 10 ** (8 + 5 * torch.rand(4, generator=gen, dtype=torch.float64))
        out = expect_tensor(student.call("chinchilla.chinchilla_loss", n, d, **k, watch=False)["outputs"], "chinchilla_loss on tensors",
                            shape=(4,))  # fmt: skip
        expect_close(
            out, loss(n, d, **k), "chinchilla_loss", atol=0, rtol=EXACT, case="random constants, alpha != beta"
        )


def test_allocation_rule(student, gen):
    n, d = (number(v, "optimal_allocation_rule") for v in pair(
        student.call("chinchilla.optimal_allocation_rule", 5.76e23, watch=False)["outputs"], "optimal_allocation_rule"))  # fmt: skip
    if not (abs(n / 70e9 - 1) <= 0.05 and abs(d / 1.4e12 - 1) <= 0.05):
        fail(f"at Gopher's 5.76e23 FLOPs the rule gives N = {n:.3g}, D = {d:.3g}; Chinchilla is 70B parameters "
             "on 1.4T tokens (5% tolerance)")  # fmt: skip
    for params, flops, tokens in TABLE_3:
        n, d = (number(v, "optimal_allocation_rule") for v in pair(
            student.call("chinchilla.optimal_allocation_rule", flops, watch=False)["outputs"], "optimal_allocation_rule"))  # fmt: skip
        if not (abs(n / params - 1) <= 0.10 and abs(d / tokens - 1) <= 0.10):
            fail(f"at {flops:.3g} FLOPs the rule gives N = {n:.3g}, D = {d:.3g}; Table 3 has {params:.3g} parameters "
                 f"on {tokens:.3g} tokens (10% tolerance)")  # fmt: skip
    for k in (20.0, 10.0, 37.5):
        flops = 10 ** (18 + 9 * torch.rand(6, generator=gen, dtype=torch.float64))
        n, d = pair(student.call("chinchilla.optimal_allocation_rule", flops, tokens_per_param=k, watch=False)["outputs"],
                    "optimal_allocation_rule")  # fmt: skip
        n = expect_tensor(n, "n_opt on a tensor of budgets", shape=(6,))
        d = expect_tensor(d, "d_opt on a tensor of budgets", shape=(6,))
        expect_close(
            n, (flops / (6 * k)) ** 0.5, "n_opt", atol=0, rtol=EXACT, case=f"{k:g} tokens per parameter, C = 6ND"
        )
        expect_close(d, k * (flops / (6 * k)) ** 0.5, "d_opt", atol=0, rtol=EXACT, case=f"{k:g} tokens per parameter")


def test_allocation_parametric(student, gen):
    cases = [(PAPER, 10 ** (18 + 10 * torch.rand(5, generator=gen, dtype=torch.float64)))]
    cases += [
        (random_constants(gen), 10 ** (18 + 10 * torch.rand(5, generator=gen, dtype=torch.float64))) for _ in range(3)
    ]
    for i, (k, flops) in enumerate(cases):
        kwargs = {name: k[name] for name in ("A", "B", "alpha", "beta")}
        what = (
            "the paper's constants"
            if i == 0
            else f"random constants {i} (alpha = {k['alpha']:.3f}, beta = {k['beta']:.3f})"
        )
        n, d = pair(student.call("chinchilla.optimal_allocation_parametric", flops, **kwargs, watch=False)["outputs"],
                    "optimal_allocation_parametric")  # fmt: skip
        n = expect_tensor(n, "n_opt on a tensor of budgets", shape=(5,))
        d = expect_tensor(d, "d_opt on a tensor of budgets", shape=(5,))
        want_n, want_d = closed_form(flops, **kwargs)
        expect_close(6 * n * d, flops, "6 n_opt d_opt", atol=0, rtol=ARGMIN, case=f"{what}: the split must spend C")
        expect_close(n, want_n, "n_opt", atol=0, rtol=ARGMIN, case=f"{what}: the minimiser of L(N, C / 6N)")
        expect_close(d, want_d, "d_opt", atol=0, rtol=ARGMIN, case=what)
        # floats too, at one budget
        c = float(flops[0])
        got = pair(student.call("chinchilla.optimal_allocation_parametric", c, **kwargs, watch=False)["outputs"],
                   "optimal_allocation_parametric")  # fmt: skip
        expect_number(got[0], float(want_n[0]), "n_opt for a float budget", rtol=ARGMIN, case=what)
        expect_number(got[1], float(want_d[0]), "d_opt for a float budget", rtol=ARGMIN, case=what)


def test_training_cost(student, gen):
    gpt3 = 6 * 175e9 * 300e9
    out = student.call(
        "chinchilla.training_cost", gpt3, gpu="V100", precision="fp16", mfu=0.3, n_gpus=1024, watch=False
    )["outputs"]
    cases = [(gpt3, "V100", "fp16", 0.3, 1024, out)]
    for _ in range(5):
        u = torch.rand(3, generator=gen, dtype=torch.float64).tolist()
        gpu, precision = list(PEAK)[int(u[0] * len(PEAK))]
        flops, mfu, n_gpus = 10 ** (19 + 6 * u[1]), 0.2 + 0.5 * u[2], int(1 + 500 * u[2])
        got = student.call(
            "chinchilla.training_cost", flops, gpu=gpu, precision=precision, mfu=mfu, n_gpus=n_gpus, watch=False
        )
        cases.append((flops, gpu, precision, mfu, n_gpus, got["outputs"]))
    for flops, gpu, precision, mfu, n_gpus, got in cases:
        case = f"{flops:.3g} FLOPs on {n_gpus} {gpu} in {precision} at {mfu:.0%} MFU"
        if not isinstance(got, dict) or not {"gpu_hours", "days"} <= set(got):
            fail("training_cost should return a dict with the keys 'gpu_hours' and 'days'")
        hours = flops / (PEAK[gpu, precision] * mfu) / 3600
        expect_number(got["gpu_hours"], hours, "gpu_hours", case=case)
        expect_number(got["days"], hours / n_gpus / 24, "days", case=case)


def test_gpt3_vs_optimal(student, gen):
    cases = [(175e9, 300e9, 20.0), (280e9, 300e9, 20.0), (70e9, 1.4e12, 20.0)]
    u = torch.rand(3, generator=gen, dtype=torch.float64).tolist()
    cases.append((10 ** (8 + 3 * u[0]), 10 ** (10 + 2 * u[1]), 10 + 20 * u[2]))
    for n, d, k in cases:
        kwargs = {} if k == 20.0 else {"tokens_per_param": k}
        got = student.call("chinchilla.compute_optimal_gap", n, d, **kwargs, watch=False)["outputs"]
        keys = {"flops", "tokens_per_param", "n_opt", "d_opt", "oversize", "loss", "loss_opt"}
        if not isinstance(got, dict) or not keys <= set(got):
            fail(f"compute_optimal_gap should return a dict with the keys {', '.join(sorted(keys))}")
        flops = 6 * n * d
        n_opt = (flops / (6 * k)) ** 0.5
        want = {"flops": flops, "tokens_per_param": d / n, "n_opt": n_opt, "d_opt": k * n_opt, "oversize": n / n_opt,
                "loss": loss(n, d, **PAPER), "loss_opt": loss(n_opt, k * n_opt, **PAPER)}  # fmt: skip
        for key, value in want.items():
            expect_number(
                got[key],
                value,
                f"compute_optimal_gap's {key!r}",
                case=f"N = {n:.3g}, D = {d:.3g}, {k:.3g} tokens per parameter",
            )

"""Hidden checks for optim.py: AdamW's parameter groups, the warmup + cosine schedule, gradient clipping."""

import math

import torch

from coursekit.grading.checks import expect_close, expect_tensor, fail
from coursekit.grading.week6_toys import OptimToy

TOY = "coursekit.grading.week6_toys.OptimToy"


# --- configure_optimizer ---

GROUP_CASES = [  # bias, weight_decay, learning_rate, betas, eps
    (True, 0.1, 6e-4, (0.9, 0.95), 1e-8),
    (False, 0.05, 1e-3, (0.8, 0.99), 1e-6),
]


def test_optimizer_groups(student, probe):
    for bias, wd, lr, betas, eps in GROUP_CASES:
        case = f"weight_decay={wd}, bias={bias}"
        toy_obj = student.obj(TOY, bias=bias)
        got = probe(student, "describe_optimizer", toy_obj, wd, lr, list(betas), eps, files=["optim.py"])
        if not got.get("adamw"):
            fail(f"configure_optimizer should return a torch.optim.AdamW, got {got.get('type')}")
        toy = OptimToy(bias=bias)
        dims = {name: p.dim() for name, p in toy.named_parameters()}
        decay_of = {}
        for group in got["groups"]:
            for name in group["names"]:
                if name == "?":
                    fail(f"a parameter group holds a tensor that is not one of the model's parameters [{case}]")
                if name in decay_of:
                    fail(f"{name} appears more than once in the optimizer's groups: each parameter once (a tied "
                         f"matrix is one parameter) [{case}]")  # fmt: skip
                decay_of[name] = group["weight_decay"]
            if not math.isclose(group["lr"], lr, rel_tol=1e-12):
                fail(f"a parameter group has lr {group['lr']:g}, expected learning_rate = {lr:g} [{case}]")
            if len(group["betas"]) != 2 or not all(math.isclose(a, b) for a, b in zip(group["betas"], betas)):
                fail(f"a parameter group has betas {tuple(group['betas'])}, expected {betas} [{case}]")
            if not math.isclose(group["eps"], eps, rel_tol=1e-12):
                fail(f"a parameter group has eps {group['eps']:g}, expected {eps:g} [{case}]")
        missing = [name for name in dims if name not in decay_of]
        if missing:
            fail(f"the optimizer does not hold the parameter {missing[0]} [{case}]")
        for name, dim in dims.items():
            decayed = decay_of[name] != 0
            if dim >= 2 and not math.isclose(decay_of[name], wd, rel_tol=1e-12):
                fail(f"the {dim}-D parameter {name} has weight_decay {decay_of[name]:g}, expected {wd:g} "
                     f"(every parameter with dim >= 2 decays) [{case}]")  # fmt: skip
            if dim < 2 and decayed:
                kind = ", a bias" if name.endswith("bias") else ", a LayerNorm gain" if name.startswith("ln") else ""
                fail(f"{name} ({dim}-D{kind}) has weight_decay {decay_of[name]:g}: parameters with dim < 2 do not "
                     f"decay [{case}]")  # fmt: skip


# --- cosine_lr ---

SCHEDULES = [  # max_lr, min_lr, warmup_steps, max_steps
    (6e-4, 6e-5, 10, 100),
    (1.0, 0.1, 5, 23),
    (3e-3, 0.0, 0, 40),
    (1e-3, 1e-4, 1, 7),
    (2.0, 0.5, 7, 7),
    (0.5, 0.5, 3, 12),
]


def expected_lr(step, max_lr, min_lr, warmup, max_steps):
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup) / (max_steps - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def as_float(x, what):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return float(x)
    if type(x) in (int, float):
        return float(x)
    fail(f"{what} should be a number, got {type(x).__name__}")


def test_cosine_schedule(student):
    for max_lr, min_lr, warmup, max_steps in SCHEDULES:
        steps = set(range(0, max_steps + 3)) if max_steps <= 25 else set(range(0, 13)) | set(range(13, max_steps, 9))
        steps |= {warmup - 1, warmup, warmup + 1, max_steps - 1, max_steps, max_steps + 1, 10 * max_steps}
        for step in sorted(s for s in steps if s >= 0):
            args = (step, max_lr, min_lr, warmup, max_steps)
            got = as_float(student.call("optim.cosine_lr", *args)["outputs"], "cosine_lr(...)")
            expected = expected_lr(*args)
            if not abs(got - expected) <= 1e-12 + 1e-9 * abs(expected):
                fail(f"cosine_lr(step={step}, max_lr={max_lr:g}, min_lr={min_lr:g}, warmup_steps={warmup}, "
                     f"max_steps={max_steps}) = {got:.6g}, expected {expected:.6g}")  # fmt: skip


# --- clip_grad_norm ---


def torch_clip(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on parameters holding `grads`: (norm, gradients after)."""
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return norm, [p.grad for p in params]


def compare_clip(got, grads, max_norm, case, tol):
    if not isinstance(got, dict) or "grads" not in got:
        fail("clip_grad_norm could not be run")
    norm = got["norm"]
    if isinstance(norm, torch.Tensor) and norm.numel() == 1:
        norm = norm.reshape(())
    elif type(norm) in (int, float):
        norm = torch.tensor(float(norm), dtype=torch.float64)
    else:
        fail(f"clip_grad_norm should return the total norm as a 0-d tensor, got {type(norm).__name__}")
    exp_norm, exp_grads = torch_clip(grads, max_norm)
    expect_close(norm, exp_norm, "the returned norm", case=f"the norm before clipping; {case}", **tol)
    if len(got["grads"]) != len(exp_grads):
        fail(f"after clip_grad_norm, {len(got['grads'])} parameters have a gradient, expected {len(exp_grads)} "
             f"[{case}]")  # fmt: skip
    for i, (g, e) in enumerate(zip(got["grads"], exp_grads)):
        expect_tensor(g, f"gradient {i + 1}", shape=e.shape, dtype=e.dtype, finite=False)
        expect_close(g, e, f"gradient {i + 1} after clipping", case=f"vs torch.nn.utils.clip_grad_norm_; {case}", **tol)


def random_grads(gen, shapes, dtype, scale=1.0):
    return [torch.randn(s, generator=gen, dtype=dtype) * scale for s in shapes]


def test_clip_grad_norm(student, probe, gen):
    shapes = [(5, 4), (7,), (3, 2, 2), (1,), (6, 6)]
    cases = [  # dtype, how the parameters are passed, max_norm as a multiple of the norm
        (torch.float64, "list", 0.3),
        (torch.float64, "generator", 0.05),
        (torch.float32, "list", 0.7),
        (torch.float64, "list", 3.0),
        (torch.float32, "generator", 1.5),
        (torch.float64, "tensor", 0.4),
    ]
    for dtype, how, ratio in cases:
        # Gradients of very different sizes: clipping each tensor by its own norm would differ.
        grads = random_grads(gen, shapes, dtype)
        grads[1] *= 20
        grads[3] *= 0.01
        if how == "tensor":
            grads = grads[:1]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        max_norm = ratio * norm
        kind = "below" if ratio < 1 else "above"
        case = f"{dtype}, parameters as a {'single tensor' if how == 'tensor' else how}, max_norm {kind} the norm"
        tol = dict(atol=1e-12, rtol=1e-10) if dtype == torch.float64 else dict(atol=1e-6, rtol=1e-5)
        got = probe(student, "clip", grads, max_norm, how=how, files=["optim.py"])
        compare_clip(got, grads, max_norm, case, tol)
        if ratio > 1:
            for g, e in zip(got["grads"], grads):
                if not torch.equal(g.cpu(), e):
                    fail(f"a gradient changed although the norm was below max_norm [{case}]")


def test_clip_grad_norm_nonfinite(student, probe, gen):
    shapes = [(4, 3), (5,), (2, 2)]
    for what, value in [("inf", float("inf")), ("NaN", float("nan")), ("-inf", float("-inf"))]:
        grads = random_grads(gen, shapes, torch.float64)
        grads[1][2] = value
        got = probe(student, "clip", grads, 1.0, how="list", files=["optim.py"])
        compare_clip(got, grads, 1.0, f"a gradient holds {what}", dict(atol=1e-12, rtol=1e-10))

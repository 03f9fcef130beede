"""Hidden checks for batch_norm.py: BatchNorm1d, against torch.nn.BatchNorm1d.

Multi-step checks run several calls on one BatchNorm1d in the submission's
process (training steps, then eval) and compare each step's outputs,
gradients and buffers with an nn.BatchNorm1d in the grader's process that
went through the same steps.
"""

import torch
from torch import nn

from coursekit.grading.checks import expect_close, expect_tensor, fail
from coursekit.grading.client import StudentError

BN = "batch_norm.BatchNorm1d"
TOL = {torch.float64: dict(atol=1e-10, rtol=1e-8), torch.float32: dict(atol=2e-5, rtol=1e-4)}
STATE_KEYS = ["bias", "running_mean", "running_var", "weight"]


def randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def batch(gen, shape, dtype=torch.float64, scale=2.0):
    """An input whose channels have different means and spreads."""
    C = shape[1]
    per_channel = (1, C) + (1,) * (len(shape) - 2)
    spread = torch.rand(per_channel, generator=gen, dtype=torch.float64) * scale + 0.2
    mean = randn(gen, *per_channel) * 3
    return (randn(gen, *shape) * spread + mean).to(dtype)


def random_state(gen, C, dtype=torch.float64):
    return {
        "weight": randn(gen, C, dtype=dtype),
        "bias": randn(gen, C, dtype=dtype),
        "running_mean": randn(gen, C, dtype=dtype),
        "running_var": (torch.rand(C, generator=gen, dtype=torch.float64) * 2 + 0.5).to(dtype),
    }


def builtin_bn(C, state=None, eps=1e-5, momentum=0.1, dtype=torch.float64):
    bn = nn.BatchNorm1d(C, eps=eps, momentum=momentum, dtype=dtype)
    if state is not None:
        bn.load_state_dict(state, strict=False)  # the built-in also counts batches; the spec's does not
    return bn


def kw(eps, momentum):
    return {"eps": eps, "momentum": momentum}


def shape_name(shape, dtype=torch.float64, extra=""):
    return f"{str(dtype).replace('torch.', '')}, input {tuple(shape)}" + (f", {extra}" if extra else "")


def run_session(student, C, state, steps, eps=1e-5, momentum=0.1, dtype=torch.float64):
    """Run `steps` on one student BatchNorm1d; return the per-step answers."""
    try:
        answer = student.module(BN, (C,), kw(eps, momentum), state_dict=state, dtype=dtype, steps=steps)
    except StudentError as exc:
        if "graph a second time" in str(exc):
            fail(
                "a backward pass in a later step went back into an earlier step's graph: update the running "
                "statistics outside autograd (under torch.no_grad() or from detached values)"
            )
        raise
    got = answer.get("steps")
    if not isinstance(got, list) or len(got) != len(steps):
        fail("BatchNorm1d did not answer every step")
    return got


def expect_state(got, bn, what, case, tol):
    state = got.get("state_dict") or {}
    if sorted(state) != STATE_KEYS:
        fail(f"BatchNorm1d's state dict holds {sorted(state)}, expected {STATE_KEYS} [{case}]")
    for key in ("running_mean", "running_var"):
        expect_close(state[key], getattr(bn, key), f"{key} {what}", case=case, **tol)


def test_bn_structure(student, gen):
    for C in (6, 3):
        answer = student.module(BN, (C,), call=False, return_state=True, describe=True)
        params = answer["describe"]["parameters"]
        if sorted(params) != ["bias", "weight"]:
            fail(
                f"BatchNorm1d({C}) has parameters {sorted(params)}, expected exactly weight and bias (the running statistics are buffers)"
            )
        state = answer.get("state_dict") or {}
        if sorted(state) != STATE_KEYS:
            fail(
                f"BatchNorm1d({C})'s state dict holds {sorted(state)}, expected {STATE_KEYS} (register the running statistics as buffers)"
            )
        for key, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            t = expect_tensor(state[key], key, shape=(C,), dtype=torch.float32)
            if not (t == value).all():
                fail(f"BatchNorm1d({C}).{key} should start at {value:g}")
    # Buffers follow .to(dtype), as registered buffers do.
    answer = student.module(BN, (4,), call=False, return_state=True, dtype=torch.float64)
    for key in ("running_mean", "running_var"):
        expect_tensor(
            (answer.get("state_dict") or {}).get(key),
            f"{key} after .to(torch.float64)",
            shape=(4,),
            dtype=torch.float64,
        )


def test_bn_train_matches_builtin(student, gen):
    for shape in [(16, 6), (8, 5, 7), (3, 4), (4, 3, 1), (2, 3, 5)]:
        for dtype in (torch.float64, torch.float32):
            C = shape[1]
            state = random_state(gen, C, dtype)
            x = batch(gen, shape, dtype)
            bn = builtin_bn(C, {k: v.double() for k, v in state.items()})
            expected = bn(x.double())
            answer = student.module(BN, (C,), {}, x, state_dict=state, dtype=dtype)
            out = expect_tensor(answer["outputs"], "BatchNorm1d output", shape=shape, dtype=dtype, finite=False)
            expect_close(
                out,
                expected,
                "training-mode output",
                case=f"vs nn.BatchNorm1d, {shape_name(shape, dtype)}",
                **TOL[dtype],
            )


def test_bn_running_stats(student, gen):
    for shapes, momentum in [
        ([(16, 6), (9, 6), (32, 6), (5, 6)], 0.1),
        ([(8, 4, 5), (3, 4, 7), (6, 4, 2)], 0.3),
        ([(4, 3, 3), (10, 3, 1)], 0.9),
    ]:
        C = shapes[0][1]
        state = random_state(gen, C)
        xs = [batch(gen, s) for s in shapes]
        bn = builtin_bn(C, state, momentum=momentum).train()
        steps = [{"args": [x], "mode": "train", "return_state": True} for x in xs]
        got = run_session(student, C, state, steps, momentum=momentum)
        for i, (x, step) in enumerate(zip(xs, got)):
            expected = bn(x)
            case = f"training step {i + 1} of {len(xs)}, {shape_name(x.shape, extra=f'momentum={momentum:g}')}"
            expect_close(step["outputs"], expected, "training-mode output", case=case, **TOL[torch.float64])
            expect_state(step, bn, "after the step", case, TOL[torch.float64])


def test_bn_eval_mode(student, gen):
    # Given running statistics: eval mode uses them, for any batch size, and leaves them alone.
    for shape in [(5, 6), (1, 6), (4, 3, 7), (1, 3, 1)]:
        C = shape[1]
        state = random_state(gen, C)
        bn = builtin_bn(C, state).eval()
        x = batch(gen, shape)
        got = run_session(student, C, state, [{"args": [x], "mode": "eval", "return_state": True}])
        case = shape_name(shape, extra="given running statistics")
        expect_close(
            got[0]["outputs"], bn(x), "eval-mode output", case=f"vs nn.BatchNorm1d, {case}", **TOL[torch.float64]
        )
        expect_state(got[0], bn, "after an eval-mode call (they should not change)", case, dict(atol=0, rtol=0))
    # Train, evaluate, train again, evaluate again: eval always uses what training accumulated.
    for shapes, momentum in [([(12, 5), (7, 5), (20, 5)], 0.1), ([(6, 4, 3), (4, 4, 5)], 0.5)]:
        C = shapes[0][1]
        bn = builtin_bn(C, momentum=momentum)
        plan = []
        for s in shapes:
            plan += [("train", batch(gen, s)), ("eval", batch(gen, (3, *s[1:])))]
        steps = [{"args": [x], "mode": mode, "return_state": True} for mode, x in plan]
        got = run_session(student, C, None, steps, momentum=momentum)
        for i, ((mode, x), step) in enumerate(zip(plan, got)):
            bn.train(mode == "train")
            expected = bn(x)
            case = (
                f"step {i + 1} ({mode}) of a train/eval session, {shape_name(x.shape, extra=f'momentum={momentum:g}')}"
            )
            expect_close(
                step["outputs"],
                expected,
                f"{mode}-mode output",
                case=f"vs nn.BatchNorm1d, {case}",
                **TOL[torch.float64],
            )
            expect_state(step, bn, "after the step", case, TOL[torch.float64])


def test_bn_gradients(student, gen):
    for shapes in [[(10, 4), (6, 4)], [(5, 3, 4), (4, 3, 6)]]:
        C = shapes[0][1]
        state = random_state(gen, C)
        bn = builtin_bn(C, state)
        plan = [("train", batch(gen, s)) for s in shapes] + [("eval", batch(gen, (3, *shapes[0][1:])))]
        ups = [randn(gen, *x.shape) for _, x in plan]
        steps = [
            {"args": [x], "mode": mode, "grad_wrt": ["args.0"], "upstream": [u], "param_grads": True}
            for (mode, x), u in zip(plan, ups)
        ]
        got = run_session(student, C, state, steps)
        for i, ((mode, x), u, step) in enumerate(zip(plan, ups, got)):
            bn.train(mode == "train")
            bn.zero_grad()
            leaf = x.clone().requires_grad_(True)
            torch.autograd.backward(bn(leaf), u)
            case = f"step {i + 1} ({mode} mode), {shape_name(x.shape)}"
            grads = {"x": (step.get("grads") or {}).get("args.0"), **(step.get("param_grads") or {})}
            for what, expected in (("x", leaf.grad), ("weight", bn.weight.grad), ("bias", bn.bias.grad)):
                if grads.get(what) is None:
                    fail(f"no gradient reaches {what} [{case}]")
                expect_close(grads[what], expected, f"gradient with respect to {what}", atol=1e-9, rtol=1e-7, case=case)


def test_bn_numerical_stability(student, gen):
    for shape in [(64, 8), (16, 4, 8)]:
        C = shape[1]
        x = (1e4 + randn(gen, *shape)).float()  # E[x^2] - E[x]^2 cancels catastrophically here
        bn = builtin_bn(C)
        expected = bn(x.double())
        got = run_session(student, C, None, [{"args": [x], "mode": "train", "return_state": True}], dtype=torch.float32)
        case = "float32 inputs with mean 10^4 and unit spread"
        expect_close(got[0]["outputs"], expected, "training-mode output", atol=1e-2, rtol=1e-2, case=case)
        expect_state(got[0], bn, "after the step", case, dict(atol=1e-2, rtol=1e-2))


def test_bn_large_eps(student, gen):
    for eps in (0.1, 1.0):
        for shape in [(12, 5), (4, 3, 6)]:
            C = shape[1]
            state = random_state(gen, C)
            state["running_var"] = state["running_var"] * 0.1  # comparable to eps
            bn = builtin_bn(C, state, eps=eps)
            plan = [("train", batch(gen, shape, scale=0.3)), ("eval", batch(gen, shape, scale=0.3))]
            got = run_session(student, C, state, [{"args": [x], "mode": m} for m, x in plan], eps=eps)
            for (mode, x), step in zip(plan, got):
                bn.train(mode == "train")
                expect_close(
                    step["outputs"],
                    bn(x),
                    f"{mode}-mode output",
                    case=f"vs nn.BatchNorm1d, {shape_name(shape, extra=f'eps={eps:g}')}",
                    **TOL[torch.float64],
                )

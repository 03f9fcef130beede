"""Hidden checks for layer_norm.py: layer_norm and LayerNorm.

Every verdict is computed here, in the grader's process, from plain tensors
returned by the submission's process.
"""

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_tensor, fail

LN_FN = "layer_norm.layer_norm"
LN = "layer_norm.LayerNorm"
TOL = {torch.float64: dict(atol=1e-10, rtol=1e-8), torch.float32: dict(atol=2e-5, rtol=1e-4)}
# Leading shapes and the normalized width H: no batch, (B, C), (B, T, C), four dimensions, H = 1.
SHAPES = [((), 16), ((7,), 12), ((2, 5), 24), ((2, 3, 4), 9), ((6,), 1)]


def randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def inputs(gen, lead, h, dtype=torch.float64, scale=2.0, offset=1.5):
    """x with a nonzero mean and spread per row, and an affine (weight, bias) far from (1, 0)."""
    x = randn(gen, *lead, h, dtype=dtype) * scale + offset * randn(gen, *lead, 1, dtype=dtype)
    return x, randn(gen, h, dtype=dtype), randn(gen, h, dtype=dtype)


def builtin(x, weight, bias, eps=1e-5):
    """F.layer_norm in float64."""
    return F.layer_norm(x.double(), (x.size(-1),), weight.double(), bias.double(), eps)


def student_ln(student, x, weight, bias, eps=None, **kw):
    kwargs = {} if eps is None else {"eps": eps}
    answer = student.call(LN_FN, x, weight, bias, **kwargs, **kw)
    return expect_tensor(
        answer["outputs"], "layer_norm(x, weight, bias)", shape=x.shape, dtype=x.dtype, finite=False
    ), answer


def name(lead, h, dtype, eps=None):
    return f"{str(dtype).replace('torch.', '')}, x of shape {(*lead, h)}" + (
        f", eps={eps:g}" if eps is not None else ""
    )


def test_ln_matches_builtin(student, gen):
    for lead, h in SHAPES:
        for dtype in (torch.float64, torch.float32):
            x, weight, bias = inputs(gen, lead, h, dtype)
            for eps in (None, 1e-3):
                out, _ = student_ln(student, x, weight, bias, eps)
                expected = builtin(x, weight, bias, 1e-5 if eps is None else eps)
                expect_close(
                    out,
                    expected,
                    "layer_norm(x, weight, bias)",
                    case=f"vs F.layer_norm, {name(lead, h, dtype, eps)}",
                    **TOL[dtype],
                )
    # The statistics of each row are its own: changing one row changes no other.
    x, weight, bias = inputs(gen, (4,), 10)
    x2 = x.clone()
    x2[2] = x2[2] * 5 + 3
    out, _ = student_ln(student, x, weight, bias)
    out2, _ = student_ln(student, x2, weight, bias)
    expect_close(
        out2[[0, 1, 3]],
        out[[0, 1, 3]],
        "other rows' outputs after changing one row",
        atol=1e-12,
        rtol=0,
        case="each row is normalized on its own",
    )


def test_ln_module(student, gen):
    for d in (8, 5):
        answer = student.module(LN, (d,), call=False, return_state=True, describe=True)
        params = answer["describe"]["parameters"]
        if sorted(params) != ["bias", "weight"]:
            fail(f"LayerNorm({d}) has parameters {sorted(params)}, expected exactly weight and bias")
        state = answer.get("state_dict", {})
        if sorted(state) != ["bias", "weight"]:
            fail(f"LayerNorm({d})'s state dict holds {sorted(state)}, expected weight and bias")
        expect_close(
            expect_tensor(state["weight"], "weight", shape=(d,), dtype=torch.float32),
            torch.ones(d),
            "initial weight",
            atol=0,
            rtol=0,
        )
        expect_close(
            expect_tensor(state["bias"], "bias", shape=(d,), dtype=torch.float32),
            torch.zeros(d),
            "initial bias",
            atol=0,
            rtol=0,
        )
    for lead, h in [((3, 4), 16), ((5,), 7)]:
        for eps in (None, 1e-2):
            x, weight, bias = inputs(gen, lead, h)
            init_kwargs = {} if eps is None else {"eps": eps}
            answer = student.module(
                LN, (h,), init_kwargs, x, state_dict={"weight": weight, "bias": bias}, dtype=torch.float64
            )
            out = expect_tensor(
                answer["outputs"], "LayerNorm.forward", shape=x.shape, dtype=torch.float64, finite=False
            )
            expected = builtin(x, weight, bias, 1e-5 if eps is None else eps)
            expect_close(
                out,
                expected,
                "LayerNorm output",
                case=f"vs F.layer_norm, {name(lead, h, torch.float64, eps)}, given weight and bias",
                **TOL[torch.float64],
            )
        # At initialisation: a plain standardization.
        answer = student.module(LN, (h,), {}, x.float())
        expected = builtin(x.float(), torch.ones(h), torch.zeros(h))
        expect_close(
            answer["outputs"],
            expected,
            "LayerNorm output at initialisation",
            case=name(lead, h, torch.float32),
            **TOL[torch.float32],
        )


def test_ln_gradients(student, gen):
    for lead, h in [((3, 4), 12), ((6,), 5)]:
        x, weight, bias = inputs(gen, lead, h)
        upstream = randn(gen, *lead, h)
        leaves = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
        torch.autograd.backward(builtin(*leaves), upstream)
        answer = student.call(LN_FN, x, weight, bias, grad_wrt=["args.0", "args.1", "args.2"], upstream=[upstream])
        expect_tensor(answer["outputs"], "layer_norm(x, weight, bias)", shape=x.shape)
        case = name(lead, h, torch.float64)
        for i, what in enumerate(("x", "weight", "bias")):
            got = answer["grads"].get(f"args.{i}")
            if got is None:
                fail(f"no gradient reaches {what} [{case}]")
            expect_close(got, leaves[i].grad, f"gradient with respect to {what}", atol=1e-9, rtol=1e-7, case=case)
        # The module: gradients of its parameters.
        answer = student.module(
            LN, (h,), {}, x, state_dict={"weight": weight, "bias": bias}, dtype=torch.float64,
            grad_wrt=["args.0"], upstream=[upstream], param_grads=True,
        )  # fmt: skip
        grads = {"x": answer["grads"].get("args.0"), **answer.get("param_grads", {})}
        for what, leaf in zip(("x", "weight", "bias"), leaves):
            if grads.get(what) is None:
                fail(f"no gradient reaches LayerNorm's {what} [{case}]")
            expect_close(grads[what], leaf.grad, f"gradient of LayerNorm's {what}", atol=1e-9, rtol=1e-7, case=case)


def test_ln_numerical_stability(student, gen):
    for lead, h in [((8,), 64), ((2, 4), 32)]:
        # float32 inputs 10^4 + noise: E[x^2] - E[x]^2 cancels catastrophically here.
        x = (1e4 + randn(gen, *lead, h)).float()
        weight, bias = randn(gen, h).float(), randn(gen, h).float()
        out, _ = student_ln(student, x, weight, bias)
        expect_close(
            out,
            builtin(x, weight, bias),
            "layer_norm(x, weight, bias)",
            atol=1e-2,
            rtol=1e-2,
            case="float32 inputs with mean 10^4 and unit spread",
        )
        answer = student.module(LN, (h,), {}, x)
        expect_close(
            answer["outputs"],
            builtin(x, torch.ones(h), torch.zeros(h)),
            "LayerNorm output",
            atol=1e-2,
            rtol=1e-2,
            case="float32 inputs with mean 10^4 and unit spread",
        )


def test_ln_large_eps(student, gen):
    for eps in (0.1, 1.0):
        for lead, h in [((6,), 16), ((2, 3), 8)]:
            x, weight, bias = inputs(gen, lead, h, scale=0.3, offset=1.0)  # variance comparable to eps
            out, _ = student_ln(student, x, weight, bias, eps)
            expect_close(
                out,
                builtin(x, weight, bias, eps),
                "layer_norm(x, weight, bias, eps)",
                case=f"vs F.layer_norm, {name(lead, h, torch.float64, eps)}",
                **TOL[torch.float64],
            )
            answer = student.module(
                LN, (h,), {"eps": eps}, x, state_dict={"weight": weight, "bias": bias}, dtype=torch.float64
            )
            expect_close(
                answer["outputs"],
                builtin(x, weight, bias, eps),
                "LayerNorm output",
                case=f"vs F.layer_norm, {name(lead, h, torch.float64, eps)}",
                **TOL[torch.float64],
            )

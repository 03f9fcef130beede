"""Hidden checks for lora.py: LoRALinear against the formula in float64, its dropout, gradients and merging;
inject_lora's choice of layers and its freezing; count_trainable_parameters.

Every expected value is computed here from the weights the grader chose:
base(x) + dropout(x) @ A.T @ B.T * alpha / r. Any random initialisation of
lora_A is accepted (it must be random and not zero); lora_B must start at zero.
"""

import copy
import itertools

import torch
from torch.nn import functional as F

from coursekit.grading import week11_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

LORA = "lora.LoRALinear"
TOL = {"atol": 1e-10, "rtol": 1e-8}
F64 = torch.float64


# ---------------------------------------------------------------- helpers


def base_weights(gen, d_in, d_out, bias):
    W = torch.randn(d_out, d_in, generator=gen, dtype=F64) * 0.5
    b = torch.randn(d_out, generator=gen, dtype=F64) if bias else None
    return W, b


def linear_obj(student, d_in, d_out, W, b):
    state = {"weight": W} if b is None else {"weight": W, "bias": b}
    return student.obj("torch.nn.Linear", d_in, d_out, bias=b is not None, state_dict=state, dtype=F64)


def lora_state(W, b, A, B):
    state = {"base.weight": W, "lora_A": A, "lora_B": B}
    if b is not None:
        state["base.bias"] = b
    return state


def expected_keys(d_in, d_out, r, bias):
    shapes = {"base.weight": (d_out, d_in), "lora_A": (r, d_in), "lora_B": (d_out, r)}
    if bias:
        shapes["base.bias"] = (d_out,)
    return {k: torch.zeros(s, dtype=F64) for k, s in shapes.items()}


def lora_out(x, W, b, A, B, scaling):
    return F.linear(x, W, b) + x @ A.T @ B.T * scaling


def run_lora(student, gen, d_in, d_out, r, alpha, bias, steps, lora=None, seed=0, **kwargs):
    """Build LoRALinear(nn.Linear with random weights, r, alpha, **kwargs) in float64, load lora = (A, B)
    if given, and run steps."""
    W, b = base_weights(gen, d_in, d_out, bias)
    base = linear_obj(student, d_in, d_out, W, b)
    state = None if lora is None else lora_state(W, b, *lora)
    answer = student.module(LORA, (base, r, alpha), kwargs, state_dict=state, dtype=F64, steps=steps, seed=seed)
    return W, b, answer["steps"]


def flag(value, what):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = bool(value.item())
    if not isinstance(value, bool):
        fail(f"{what} should be a bool, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- LoRALinear


def test_lora_init(student, gen):
    x_shapes = [(6, 7), (3, 12), (2, 3, 4)]
    cases = [(7, 5, 3, 6.0, True), (12, 9, 1, 1.0, False), (4, 16, 8, 16.0, True)]
    first_A = None
    for (d_in, d_out, r, alpha, bias), x_shape in zip(cases, x_shapes):
        x = torch.randn(x_shape, generator=gen, dtype=F64)
        steps = [{"no_call": True, "return_state": True}, {"mode": "eval", "args": [x]}, {"mode": "train", "args": [x]}]
        W, b, answers = run_lora(student, gen, d_in, d_out, r, alpha, bias, steps, dropout=0.3)
        case = f"in={d_in}, out={d_out}, r={r}, bias={bias}"
        state = expect_state_dict(answers[0]["state_dict"], expected_keys(d_in, d_out, r, bias), "LoRALinear")
        if not torch.equal(state["base.weight"], W) or (bias and not torch.equal(state["base.bias"], b)):
            fail(f"LoRALinear's base.weight and base.bias should be the given layer's, unchanged [{case}]")
        if (state["lora_B"] != 0).any():
            fail(f"lora_B should start at zero, so that the layer starts equal to its base [{case}]")
        A = state["lora_A"]
        if (A == 0).all():
            fail(f"lora_A should start random, not zero: with A = 0 and B = 0 neither gets a gradient [{case}]")
        if A.unique().numel() < A.numel() // 2 or not 1e-4 < A.std().item() < 10:
            fail(f"lora_A should start random (e.g. kaiming_uniform_), got std {A.std().item():.3g} [{case}]")
        if first_A is None:
            first_A = A
        for answer, mode in zip(answers[1:], ("eval", "train")):
            out = expect_tensor(answer["outputs"], f"LoRALinear output ({mode} mode)", shape=(*x_shape[:-1], d_out))
            expect_close(out, F.linear(x, W, b), "LoRALinear's output at initialisation", case=f"{case}, {mode} mode, dropout 0.3", **TOL)  # fmt: skip
    d_in, d_out, r, alpha, bias = cases[0]
    steps = [{"no_call": True, "return_state": True}]
    _, _, answers = run_lora(student, gen, d_in, d_out, r, alpha, bias, steps, seed=1, dropout=0.3)
    if torch.equal(answers[0]["state_dict"]["lora_A"], first_A):
        fail("lora_A is the same for different random seeds: it should be drawn at random")


FORWARD_CASES = [
    # d_in, d_out, r, alpha, bias, x shape (without d_in)
    (7, 5, 3, 6.0, True, (4,)),
    (12, 9, 1, 1.0, False, (2, 3)),
    (6, 10, 4, 1.0, True, ()),  # scaling 1/4
    (5, 3, 8, 16.0, True, (3, 2)),  # r larger than both sizes
    (9, 9, 2, 2.0, False, (5,)),  # alpha = r
    (3, 8, 2, 32.0, True, (1, 1, 3)),
]


def test_lora_forward(student, gen):
    for d_in, d_out, r, alpha, bias, lead in FORWARD_CASES:
        A = torch.randn(r, d_in, generator=gen, dtype=F64)
        B = torch.randn(d_out, r, generator=gen, dtype=F64)
        x = torch.randn(*lead, d_in, generator=gen, dtype=F64)
        steps = [{"mode": "eval", "args": [x]}, {"method": "__getattribute__", "args": ["scaling"]}]
        kwargs = {"dropout": 0.2} if bias else {}  # no dropout in eval mode
        W, b, answers = run_lora(student, gen, d_in, d_out, r, alpha, bias, steps,
                                 lora=(A, B), **kwargs)  # fmt: skip
        case = f"in={d_in}, out={d_out}, r={r}, alpha={alpha}, bias={bias}, x {tuple(x.shape)}"
        out = expect_tensor(answers[0]["outputs"], "LoRALinear output", shape=(*lead, d_out))
        expect_close(out, lora_out(x, W, b, A, B, alpha / r), "LoRALinear's output (base(x) + x A^T B^T alpha/r)", case=case, **TOL)  # fmt: skip
        scaling = answers[1]["outputs"]
        if isinstance(scaling, torch.Tensor) and scaling.numel() == 1:
            scaling = scaling.item()
        if not isinstance(scaling, (int, float)) or abs(scaling - alpha / r) > 1e-12:
            fail(f"LoRALinear.scaling should be alpha / r = {alpha / r:g}, got {scaling!r} [{case}]")


def explained_by_input_dropout(x, delta, A, B, scaling, p):
    """For each row, the subset of input features whose dropout explains delta best: (error, kept share)."""
    d_in = x.shape[-1]
    masks = torch.tensor(list(itertools.product([0.0, 1.0], repeat=d_in)), dtype=F64)  # (2^d_in, d_in)
    dropped = masks[None] * x[:, None, :] / (1 - p)  # (N, M, d_in)
    candidates = dropped @ A.T @ B.T * scaling  # (N, M, d_out)
    error = (candidates - delta[:, None, :]).abs().amax(-1)  # (N, M)
    best, index = error.min(dim=1)
    return best.max().item(), masks[index].mean().item()


def test_lora_dropout(student, gen):
    d_in, d_out, r, alpha, bias = 8, 5, 3, 6.0, True
    for p in (0.5, 0.25):
        A = torch.randn(r, d_in, generator=gen, dtype=F64)
        B = torch.randn(d_out, r, generator=gen, dtype=F64)
        x = torch.randn(96, d_in, generator=gen, dtype=F64)
        steps = [{"mode": "train", "args": [x]}, {"mode": "train", "args": [x]}, {"mode": "eval", "args": [x]}]
        W, b, answers = run_lora(student, gen, d_in, d_out, r, alpha, bias, steps,
                                 lora=(A, B), dropout=p)  # fmt: skip
        outs = [expect_tensor(a["outputs"], "LoRALinear output", shape=(96, d_out)) for a in answers]
        expect_close(outs[2], lora_out(x, W, b, A, B, alpha / r), "LoRALinear's output in eval mode (no dropout)", case=f"p={p}", **TOL)  # fmt: skip
        for out in outs[:2]:
            delta = out - F.linear(x, W, b)
            error, kept = explained_by_input_dropout(x, delta, A, B, alpha / r, p)
            if not error < 1e-8:
                fail(
                    f"in training mode (p={p}) the output is not base(x) + dropout(x) A^T B^T alpha/r: dropout should "
                    "act on the input of the LoRA path only, not on base(x) nor after the update, scaled by 1/(1-p)"
                )
            if not abs(kept - (1 - p)) < 0.1:
                fail(f"in training mode with dropout p={p}, {kept:.0%} of the LoRA path's inputs were kept: expected about {1 - p:.0%}")  # fmt: skip
        if torch.equal(outs[0], outs[1]):
            fail(f"two training-mode calls with dropout p={p} gave the same output: the dropout mask should be random")


def test_lora_gradients(student, gen):
    for d_in, d_out, r, alpha, bias, lead in FORWARD_CASES[:4]:
        A = torch.randn(r, d_in, generator=gen, dtype=F64)
        B = torch.randn(d_out, r, generator=gen, dtype=F64)
        x = torch.randn(*lead, d_in, generator=gen, dtype=F64)
        upstream = torch.randn(*lead, d_out, generator=gen, dtype=F64)
        step = {"mode": "eval", "args": [x], "grad_wrt": ["args.0"], "upstream": [upstream], "param_grads": True}
        W, b, answers = run_lora(student, gen, d_in, d_out, r, alpha, bias, [step],
                                 lora=(A, B))  # fmt: skip
        case = f"in={d_in}, out={d_out}, r={r}, bias={bias}"
        grads = answers[0].get("param_grads", {})
        for name in ("base.weight", "base.bias"):
            if grads.get(name) is not None:
                fail(f"{name} got a gradient: the base layer should be frozen (requires_grad False) [{case}]")
        leaves = [t.clone().requires_grad_(True) for t in (x, A, B)]
        (lora_out(leaves[0], W, b, leaves[1], leaves[2], alpha / r) * upstream).sum().backward()
        for name, leaf in zip(("lora_A", "lora_B"), leaves[1:]):
            if grads.get(name) is None:
                fail(f"{name} got no gradient: it is what LoRA trains [{case}]")
            expect_close(grads[name], leaf.grad, f"the gradient of {name}", case=case, **TOL)
        grad_x = answers[0].get("grads", {}).get("args.0")
        if grad_x is None:
            fail(f"no gradient reaches the input x [{case}]")
        expect_close(grad_x, leaves[0].grad, "the gradient with respect to the input", case=case, **TOL)


def test_lora_merge(student, gen):
    for d_in, d_out, r, alpha, bias in [(7, 5, 3, 6.0, True), (6, 10, 4, 1.0, False)]:
        A = torch.randn(r, d_in, generator=gen, dtype=F64)
        B = torch.randn(d_out, r, generator=gen, dtype=F64)
        x = torch.randn(4, d_in, generator=gen, dtype=F64)
        forward = {"mode": "eval", "args": [x]}
        merged = {"method": "__getattribute__", "args": ["merged"]}
        steps = [forward, merged, {"method": "merge", "return_state": True}, forward, merged,
                 {"method": "merge", "return_state": True}, forward,
                 {"method": "unmerge", "return_state": True}, forward, merged,
                 {"method": "unmerge", "return_state": True}, forward]  # fmt: skip
        W, b, s = run_lora(student, gen, d_in, d_out, r, alpha, bias, steps, lora=(A, B))
        case = f"r={r}, alpha={alpha}, bias={bias}"
        expected = lora_out(x, W, b, A, B, alpha / r)
        W_merged = W + B @ A * (alpha / r)
        if flag(s[1]["outputs"], "LoRALinear.merged"):
            fail(f"a new LoRALinear should have merged = False [{case}]")
        checks = [
            (2, W_merged, "base.weight after merge() (W + B A alpha/r)"),
            (5, W_merged, "base.weight after a second merge() (unchanged: W + B A alpha/r)"),
            (7, W, "base.weight after unmerge() (the pretrained W again)"),
            (10, W, "base.weight after a second unmerge() (unchanged: W)"),
        ]
        for index, weight, what in checks:
            state = s[index]["state_dict"]
            expect_close(state["base.weight"], weight, what, case=case, atol=1e-12, rtol=1e-12)
            if not (torch.equal(state["lora_A"], A) and torch.equal(state["lora_B"], B)):
                fail(
                    f"{'merge()' if index < 7 else 'unmerge()'} changed lora_A or lora_B: they should stay as they are [{case}]"
                )
            if bias and not torch.equal(state["base.bias"], b):
                fail(f"merging changed base.bias: only the weight takes the update [{case}]")
        for index, when in [(0, "before merge()"), (3, "after merge()"), (6, "after merging twice"),
                            (8, "after unmerge()"), (11, "after unmerging twice")]:  # fmt: skip
            out = expect_tensor(s[index]["outputs"], "LoRALinear output", shape=(4, d_out))
            expect_close(out, expected, f"LoRALinear's output {when}", case=case, **TOL)
        if not flag(s[4]["outputs"], "LoRALinear.merged"):
            fail(f"after merge(), merged should be True [{case}]")
        if flag(s[9]["outputs"], "LoRALinear.merged"):
            fail(f"after unmerge(), merged should be False [{case}]")


# ---------------------------------------------------------------- inject_lora


def toy_model(seed, **fields):
    torch.manual_seed(seed)
    return toys.InjectToy(**fields).double()


def toy_obj(student, model, fields):
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return student.obj(toys.__name__ + ".InjectToy", **fields, state_dict=state, dtype=F64)


def wrapped(keys):
    return sorted(k.removesuffix(".lora_A") for k in keys if k.endswith(".lora_A"))


def injected_state(student, ref, model, fields, targets, r, alpha):
    """inject_lora in the submission's process on a copy of `model`: its state, checked against the reference's."""
    answer = student.call("lora.inject_lora", toy_obj(student, model, fields), list(targets), r, alpha)
    out = answer["outputs"]
    if out is None:
        fail("inject_lora should return the model (the same object, with its LoRA layers)")
    if not (isinstance(out, dict) and "state_dict" in out):
        fail(f"inject_lora should return the model, got {type(out).__name__}")
    # LoRA matrices made in the default dtype are fine here: a built model is cast as a whole before it runs
    state = {k: v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in out["state_dict"].items()}  # fmt: skip
    expected_model = ref.lora.inject_lora(copy.deepcopy(model), list(targets), r, alpha)
    expected = expected_model.state_dict()
    got, want = wrapped(state), wrapped(expected)
    if got != want:
        extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
        detail = "; ".join(
            ([f"wrapped {', '.join(extra[:3])}, which should stay as it is"] if extra else [])
            + ([f"did not wrap {', '.join(missing[:3])}"] if missing else [])
        )
        fail(f"for target_modules={list(targets)}, inject_lora {detail} (a name matches a target t when it is t or ends with '.t')")  # fmt: skip
    return expect_state_dict(
        state, expected, f"the model after inject_lora(target_modules={list(targets)})"
    ), expected_model


TARGET_CASES = [
    (["q", "v"], 4, 8.0),
    (["wi", "head"], 2, 2.0),
    (["attn.o"], 3, 1.0),
    (["o", "norm", "embed"], 1, 4.0),
    (["blocks.1.mlp.wi_gate", "attn.k"], 5, 10.0),
]
FIELDS = {"d_in": 5, "d": 8, "n_out": 3, "n_blocks": 2}


def test_inject_lora_targets(student, ref):
    model = toy_model(0, **FIELDS)
    original = model.state_dict()
    for targets, r, alpha in TARGET_CASES:
        state, _ = injected_state(student, ref, model, FIELDS, targets, r, alpha)
        for name in wrapped(state):
            for part in ("weight", "bias"):
                key = f"{name}.base.{part}"
                if key in state and not torch.equal(state[key], original[f"{name}.{part}"]):
                    fail(f"inject_lora changed {name}.{part}: the wrapped layer keeps its pretrained weights")
            if (state[f"{name}.lora_B"] != 0).any():
                fail(f"after inject_lora, {name}.lora_B should be zero")
        for key, value in state.items():
            if ".base." not in key and "lora_" not in key and not torch.equal(value, original[key]):
                fail(f"inject_lora changed {key}, which it should leave alone")


def test_inject_lora_trainable(student, ref, gen):
    for targets, r, alpha in [(["q", "v", "head"], 4, 8.0), (["attn.o", "wi", "embed"], 2, 6.0)]:
        model = toy_model(1, **FIELDS)
        x = torch.randn(6, FIELDS["d_in"], generator=gen, dtype=F64)
        with torch.no_grad():
            before = model(x)
        _, expected_model = injected_state(student, ref, model, FIELDS, targets, r, alpha)
        case = f"target_modules={targets}"
        # at initialisation: the same function as the pretrained model
        answer = student.module("lora.inject_lora", (toy_obj(student, model, FIELDS), targets, r, alpha), None,
                                steps=[{"mode": "eval", "args": [x]}], dtype=F64)  # fmt: skip
        out = expect_tensor(answer["steps"][0]["outputs"], "the model's output", shape=before.shape)
        expect_close(out, before, "the model's output right after inject_lora (B = 0: no change)", case=case, **TOL)
        # with trained-looking LoRA weights: the reference's output and gradients, LoRA parameters only
        with torch.no_grad():
            for name, p in expected_model.named_parameters():
                if "lora_" in name:
                    p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
        state = {k: v.detach().clone() for k, v in expected_model.state_dict().items()}
        upstream = torch.randn(before.shape, generator=gen, dtype=F64)
        step = {"mode": "eval", "args": [x], "grad_wrt": ["args.0"], "upstream": [upstream], "param_grads": True}
        answer = student.module("lora.inject_lora", (toy_obj(student, model, FIELDS), targets, r, alpha), None,
                                state_dict=state, steps=[step], dtype=F64)["steps"][0]  # fmt: skip
        leaf = x.clone().requires_grad_(True)
        expected_model.eval()
        expected_out = expected_model(leaf)
        (expected_out * upstream).sum().backward()
        out = expect_tensor(answer["outputs"], "the model's output", shape=before.shape)
        expect_close(
            out, expected_out.detach(), "the output of the model with LoRA weights (alpha/r)", case=case, **TOL
        )
        grads = answer.get("param_grads", {})
        trained = sorted(n for n, g in grads.items() if g is not None and "lora_" not in n)
        if trained:
            fail(f"after inject_lora, {trained[0]} still gets a gradient: only lora_A and lora_B should train [{case}]")
        for name, p in expected_model.named_parameters():
            if "lora_" in name:
                if grads.get(name) is None:
                    fail(f"after inject_lora, {name} gets no gradient [{case}]")
                expect_close(grads[name], p.grad, f"the gradient of {name}", case=case, **TOL)
        grad_x = answer.get("grads", {}).get("args.0")
        if grad_x is None:
            fail("no gradient reaches the model's input")
        expect_close(grad_x, leaf.grad, "the gradient with respect to the input", case=case, **TOL)


def test_count_trainable_parameters(student):
    for pattern, shared in [([True], False), ([False], False), ([True, False], False), ([False, False, True], False),
                            ([True], True), ([False, True], True)]:  # fmt: skip
        model = toys.frozen_model(pattern, shared)
        expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
        obj = student.obj(toys.__name__ + ".frozen_model", pattern, shared)
        got = student.call("lora.count_trainable_parameters", obj)["outputs"]
        if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
            got = int(got.item())
        if not isinstance(got, int) or isinstance(got, bool):
            fail(f"count_trainable_parameters should return an int, got {type(got).__name__}")
        if got != expected:
            total = sum(p.numel() for p in model.parameters())
            fail(
                f"count_trainable_parameters gave {got}, expected {expected} (of {total} in all"
                f"{'; one weight is shared by two layers' if shared else ''})"
            )

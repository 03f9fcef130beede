"""Hidden checks for residual.py: ResidualBlock, DeepMLP and gradient_norms.

The submission's blocks use its own LayerNorm and BatchNorm1d; the grader
loads the same weights into the reference classes and compares. The
gradient-flow experiment is judged here, from the per-parameter gradients
the submission's model returns, never from numbers it computes.
"""

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_tensor, fail

BLOCK = "residual.ResidualBlock"
MLP = "residual.DeepMLP"
TOL = dict(atol=1e-10, rtol=1e-8)
NORMS = (None, "layer", "batch")


def randn(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def with_random_norms(module, gen):
    """Norm weights away from (1, 0) and running statistics away from (0, 1), so they all matter."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.endswith("norm.weight"):
                t.copy_(1 + 0.3 * randn(gen, *t.shape))
            elif name.endswith(("norm.bias", "running_mean")):
                t.copy_(0.3 * randn(gen, *t.shape))
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen, dtype=torch.float64))
    return module


def reference(ref, cls, args, kwargs, seed, gen=None):
    """The reference module at PyTorch's default initialisation (seeded), in float64."""
    torch.manual_seed(seed)
    module = getattr(ref.residual, cls)(*args, **kwargs).double()
    return with_random_norms(module, gen) if gen is not None else module


def state_of(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def expect_same_names(student, target, args, kwargs, expected, what):
    """The student's module has the reference's state-dict names and shapes."""
    answer = student.module(target, args, kwargs, call=False, return_state=True)
    got = answer.get("state_dict") or {}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))

    def few(names):
        return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")

    if missing:
        fail(f"the state dict of {what} lacks {few(missing)} (see the docstrings for the names)")
    if extra:
        fail(f"the state dict of {what} has entries the spec does not: {few(extra)}")
    for k, v in expected.items():
        expect_tensor(got[k], f"{what}'s {k}", shape=v.shape, finite=False)


def config_name(norm, residual):
    return f"norm={norm!r}, residual={residual}"


def test_residual_block(student, ref, gen):
    width, B = 12, 10
    for i, norm in enumerate(NORMS):
        for residual in (True, False):
            kwargs = {"norm": norm, "residual": residual}
            module = reference(ref, "ResidualBlock", (width,), kwargs, seed=i, gen=gen)
            state = state_of(module)
            case = f"ResidualBlock({width}, {config_name(norm, residual)})"
            expect_same_names(student, BLOCK, (width,), kwargs, state, case)
            x = randn(gen, B, width) * 2 + 1
            modes = ("train", "eval") if norm == "batch" else ("train",)
            got = student.module(BLOCK, (width,), kwargs, state_dict=state, dtype=torch.float64,
                                 steps=[{"args": [x], "mode": m} for m in modes])["steps"]  # fmt: skip
            for mode, step in zip(modes, got):
                module.train(mode == "train")
                with torch.no_grad():
                    expected = module(x)
                expect_close(step["outputs"], expected, "ResidualBlock output", case=f"{case}, {mode} mode", **TOL)


def test_deep_mlp(student, ref, gen):
    configs = [
        (6, 16, 3, 2, None, True),
        (6, 16, 4, 3, "layer", True),
        (5, 8, 3, 4, "batch", True),
        (6, 16, 3, 2, "layer", False),
        (4, 8, 2, 1, "batch", False),
    ]
    for i, (d_in, width, depth, d_out, norm, residual) in enumerate(configs):
        args, kwargs = (d_in, width, depth, d_out), {"norm": norm, "residual": residual}
        module = reference(ref, "DeepMLP", args, kwargs, seed=10 + i, gen=gen)
        state = state_of(module)
        case = f"DeepMLP{args} with {config_name(norm, residual)}"
        expect_same_names(student, MLP, args, kwargs, state, case)
        x = randn(gen, 9, d_in)
        modes = ("train", "eval") if norm == "batch" else ("eval",)
        got = student.module(MLP, args, kwargs, state_dict=state, dtype=torch.float64,
                             steps=[{"args": [x], "mode": m} for m in modes])["steps"]  # fmt: skip
        for mode, step in zip(modes, got):
            module.train(mode == "train")
            with torch.no_grad():
                expected = module(x)
            expect_close(step["outputs"], expected, "DeepMLP output", case=f"{case}, {mode} mode", **TOL)


def block_grad_norms(param_grads, depth, who):
    norms = []
    for i in range(depth):
        g = param_grads.get(f"blocks.{i}.fc1.weight")
        if g is None:
            fail(f"no gradient reaches blocks.{i}.fc1.weight {who}")
        norms.append(expect_tensor(g, f"gradient of blocks.{i}.fc1.weight", finite=True).double().norm().item())
    return torch.tensor(norms, dtype=torch.float64)


def test_gradient_flow(student, ref, gen):
    d_in, width, depth, d_out, B = 8, 32, 20, 4, 32
    x, upstream = randn(gen, B, d_in), randn(gen, B, d_out) / B
    ratios = {}
    for norm, residual in [(None, False), (None, True), ("layer", True), ("batch", True)]:
        args, kwargs = (d_in, width, depth, d_out), {"norm": norm, "residual": residual}
        module = reference(ref, "DeepMLP", args, kwargs, seed=7)  # PyTorch's default initialisation
        state = state_of(module)
        case = f"DeepMLP of depth {depth}, {config_name(norm, residual)}, training mode"
        expect_same_names(student, MLP, args, kwargs, state, f"DeepMLP{args} with {config_name(norm, residual)}")
        answer = student.module(
            MLP, args, kwargs, x, state_dict=state, dtype=torch.float64, upstream=[upstream], param_grads=True
        )
        expect_tensor(answer["outputs"], "DeepMLP output", shape=(B, d_out))
        got = block_grad_norms(answer.get("param_grads") or {}, depth, f"[{case}]")
        torch.autograd.backward(module(x), upstream)
        expected = block_grad_norms({n: p.grad for n, p in module.named_parameters()}, depth, "(reference)")
        expect_close(
            got, expected, "per-block gradient norms ||d loss / d blocks[i].fc1.weight||", atol=0, rtol=1e-6, case=case
        )
        ratios[(norm, residual)] = (got[0] / got[-1]).item()
    plain = ratios[(None, False)]
    if not plain < 1e-4:
        fail(
            f"without skip connections the first block's gradient is {plain:.2g} times the last's; it should vanish (< 1e-4)"
        )
    for (norm, residual), ratio in ratios.items():
        if residual and not ratio > 0.1:
            fail(
                f"with skip connections ({config_name(norm, residual)}) the first block's gradient is only {ratio:.2g} times the last's (should be > 0.1)"
            )


def expected_norms(module, x, y, loss_fn):
    module.zero_grad()
    loss_fn(module(x), y).backward()
    return torch.tensor([b.fc1.weight.grad.norm().item() for b in module.blocks], dtype=torch.float64)


def test_gradient_norms_function(student, ref, gen):
    cases = [  # d_in, width, depth, d_out, norm, residual, mode, loss
        (8, 16, 12, 4, None, False, "train", "mse"),
        (8, 16, 6, 4, None, True, "train", "mse"),
        (6, 12, 5, 3, "layer", True, "train", "cross_entropy"),
        (6, 12, 4, 2, "batch", True, "eval", "mse"),
        (6, 12, 4, 2, "batch", False, "train", "mse"),
    ]
    for i, (d_in, width, depth, d_out, norm, residual, mode, loss) in enumerate(cases):
        args, kwargs = (d_in, width, depth, d_out), {"norm": norm, "residual": residual}
        module = reference(ref, "DeepMLP", args, kwargs, seed=30 + i, gen=gen).train(mode == "train")
        state = state_of(module)
        B = 16
        x = randn(gen, B, d_in)
        expect_same_names(student, MLP, args, kwargs, state, f"DeepMLP{args} with {config_name(norm, residual)}")
        model = student.obj(MLP, *args, **kwargs, state_dict=state, dtype=torch.float64, mode=mode)
        case = f"DeepMLP{args} with {config_name(norm, residual)} in {mode} mode, {loss} loss"
        if loss == "mse":
            y = randn(gen, B, d_out)
            answer = student.call("residual.gradient_norms", model, x, y)
            expected = expected_norms(module, x, y, F.mse_loss)
        else:
            y = torch.randint(0, d_out, (B,), generator=gen)
            answer = student.call("residual.gradient_norms", model, x, y, student.obj("torch.nn.CrossEntropyLoss"))
            expected = expected_norms(module, x, y, F.cross_entropy)
        got = answer["outputs"]
        if not isinstance(got, list) or len(got) != depth or not all(type(v) is float for v in got):
            fail(f"gradient_norms should return a list of {depth} Python floats, one per block [{case}]")
        expect_close(
            torch.tensor(got, dtype=torch.float64),
            expected,
            "gradient_norms(model, x, y)",
            atol=0,
            rtol=1e-6,
            case=case,
        )

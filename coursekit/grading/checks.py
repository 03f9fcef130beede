"""Helpers for the hidden checks: judging plain data from a submission.

Everything here runs in the grader's process on tensors decoded from the
submission's answers, so nothing the submission does can change a verdict.
A failed check raises `CheckFailed` with a one-line reason for the student
that names what was wrong but never the check's inputs.
"""

from __future__ import annotations

import ast

import torch

from .wire import Unsendable


class CheckFailed(AssertionError):
    """The submission's answer is wrong; str() is the one-line reason."""


def fail(reason: str):
    raise CheckFailed(reason)


def expect_tensor(x, what: str, shape=None, dtype=None, finite: bool = True) -> torch.Tensor:
    """x must be a tensor of the given shape and dtype (and all finite when `finite`)."""
    if isinstance(x, Unsendable):
        fail(f"{what} should be a torch.Tensor, got {x.what}")
    if type(x) is not torch.Tensor:
        fail(f"{what} should be a torch.Tensor, got {type(x).__name__}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        fail(f"{what} has shape {tuple(x.shape)}, expected {tuple(shape)}{shape_hint(tuple(x.shape), tuple(shape))}")
    if dtype is not None and x.dtype != dtype:
        fail(f"{what} has dtype {x.dtype}, expected {dtype}")
    if finite and x.is_floating_point() and not torch.isfinite(x).all():
        bad = "NaN" if torch.isnan(x).any() else "inf"
        fail(f"{what} contains {bad}")
    return x


def shape_hint(got: tuple, expected: tuple) -> str:
    """What is off between two shapes, in words (empty when nothing simple is)."""
    if len(got) == len(expected):
        wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
        if sorted(got) == sorted(expected):
            return ": the same sizes in another order (a transpose or permute missing, or one too many?)"
        if len(wrong) == 1:
            i = wrong[0]
            return f": only dimension {i} is off ({got[i]} instead of {expected[i]})"
        return ""
    if [n for n in got if n != 1] == [n for n in expected if n != 1]:
        return ": the same sizes apart from dimensions of size 1 (a squeeze or unsqueeze?)"
    if len(got) == len(expected) + 1:
        for i in range(len(expected)):
            if got[:i] + (got[i] * got[i + 1],) + got[i + 2 :] == expected:
                return f": dimensions {i} and {i + 1} should be one, of size {expected[i]} (merge them, e.g. the heads)"
        if got[1:] == expected or got[:-1] == expected:
            return ": one dimension too many"
    if len(got) + 1 == len(expected):
        for i in range(len(got)):
            if expected[:i] + (expected[i] * expected[i + 1],) + expected[i + 2 :] == got:
                return f": dimension {i} should be split in two, {expected[i]} x {expected[i + 1]}"
        if expected[1:] == got or expected[:-1] == got:
            return ": one dimension missing"
    return ""


def expect_causal(actual: torch.Tensor, base: torch.Tensor, cut: int, what: str, *, atol: float, rtol: float,
                  dim: int = 1, case: str = ""):  # fmt: skip
    """Inputs changed only at positions >= cut: `actual` must equal `base` at every position < cut
    along `dim`; otherwise name the first position that moved (it sees the future)."""
    expect_tensor(actual, what, shape=base.shape, finite=False)
    a = actual.detach().double().cpu().movedim(dim, 0)[:cut]
    e = base.detach().double().cpu().movedim(dim, 0)[:cut]
    moved = ((a - e).abs() > atol + rtol * e.abs()) | (torch.isnan(a) != torch.isnan(e))
    leaks = moved.flatten(1).any(dim=1).nonzero().flatten()
    if leaks.numel():
        p = int(leaks[0])
        fail(
            f"{what}: position {p} changed when only positions {cut} and later did, so it sees the future "
            f"(position t may only see positions 0 .. t){_in(case)}"
        )


def expect_pair(outputs, what: str) -> tuple:
    """A function that returns (out, weights)."""
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        got = type(outputs).__name__ if not isinstance(outputs, (tuple, list)) else f"{len(outputs)} values"
        fail(f"{what} should return a pair (out, weights), got {got}")
    return tuple(outputs)


def expect_state_dict(x, expected: dict, what: str) -> dict:
    """x must be a module returned by the submission ({"module", "state_dict"}) or a state
    dict, with exactly the parameter and buffer names, shapes and dtypes of `expected`."""
    if isinstance(x, dict) and "state_dict" in x and "module" in x:
        x = x["state_dict"]
    if isinstance(x, Unsendable):
        fail(f"{what} should be a torch.nn.Module, got {x.what}")
    if not isinstance(x, dict):
        fail(f"{what} should be a torch.nn.Module, got {type(x).__name__}")
    missing, extra = sorted(set(expected) - set(x)), sorted(set(x) - set(expected))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else []
        )
        fail(f"{what} does not have the parameters the spec names: {'; '.join(parts)}")
    for name, tensor in expected.items():
        expect_tensor(x[name], f"{what}: {name}", shape=tensor.shape, dtype=tensor.dtype)
    return x


def expect_close(actual: torch.Tensor, expected: torch.Tensor, what: str, *, atol: float, rtol: float, case: str = ""):
    """|actual - expected| <= atol + rtol * |expected| elementwise, compared in float64."""
    expect_tensor(actual, what, shape=expected.shape, finite=False)
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    nan_mismatch = torch.isnan(a) != torch.isnan(e)
    if nan_mismatch.any():
        fail(f"{what} has NaN where the expected value is finite{_in(case)}")
    both = ~torch.isnan(e)
    inf_mismatch = (torch.isinf(a) | torch.isinf(e)) & both & (a != e)
    if inf_mismatch.any():
        fail(f"{what} has inf where it should not{_in(case)}")
    finite = both & torch.isfinite(e)
    error = (a - e).abs()[finite]
    allowed = (atol + rtol * e.abs())[finite]
    if error.numel() and (error > allowed).any():
        worst = error.max().item()
        fail(
            f"{what} differs from the expected values by up to {worst:.2e} (tolerance {atol:g} + {rtol:g}·|expected|){_in(case)}"
        )


def _in(case: str) -> str:
    return f" [{case}]" if case else ""


# --- use of built-ins the exercise asks the student to write ---


def torch_aliases(tree: ast.AST) -> set[str]:
    """Local names bound to torch modules (`torch`, `F`, `nn`, ...)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "torch" or alias.name.startswith("torch."):
                    names.add((alias.asname or alias.name).split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and (node.module == "torch" or node.module.startswith("torch."))
        ):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def forbidden_names(source: str, forbidden: set[str]) -> list[str]:
    """Forbidden torch names the source reaches: `F.name`, `torch.x.name`, `from torch... import name`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases = torch_aliases(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in forbidden and _root_name(node) in aliases:
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "torch":
            found.update(alias.name for alias in node.names if alias.name in forbidden)
    return sorted(found)

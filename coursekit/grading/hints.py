"""Hints that name the bug: when a check fails, say which classic mistake the answers match.

Each week ships a hint table, `graders/WEEK/hints.toml`, one entry per
classic bug of `tests/submissions/WEEK/<bug>/` (the reference solution with
that bug's module files in place of the reference's):

    [sdpa_no_scaling]
    hint = "the scores are not divided by sqrt(d_k): softmax(q k^T / sqrt(d_k))"
    # checks = ["sdpa_matches_reference"]    (optional; default: the bug's must_fail checks)

When a check fails, the grader runs the same check again, in its own
process, on each bug listed for that check: same inputs (the check's
generators are restored to their state before the check ran), same calls.
If every answer the submission gave during the check equals the bug's
answer to the same call, the reason ends with the bug's hint. The answers
are compared, not the code, so a mistake written any other way is named
too. The bug's answers for a check are computed once per grading process.

The bugs are the course's own code, so they run in the grader's process
(`LocalSubmission`), through the same request handling as a submission's
process (worker.py), with the same plain-data round trip (wire.py).
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import wire
from .checks import CheckFailed
from .client import StudentError, describe_error

HINT_TIMEOUT = 60.0  # checks with a longer time limit (training) are never rerun for a hint
IGNORED = ("forbidden", "devices")  # answer fields that say nothing about the mistake
# Answers are the same mistake when they agree to float rounding of their dtype, relative to their largest value.
RELATIVE = {torch.float64: 1e-9, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 2e-2}


@dataclass
class Hint:
    bug: str
    text: str
    checks: list[str]
    folder: Path


@dataclass
class HintTable:
    """A week's hints: which bugs to try for which check."""

    week: str
    hints: list[Hint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def for_check(self, check: str) -> list[Hint]:
        return [h for h in self.hints if check in h.checks]


def load_table(course, week) -> HintTable:
    """graders/WEEK/hints.toml with its bugs from tests/submissions/WEEK/ (an empty table when absent)."""
    table = HintTable(week.name)
    path = course.path("graders", week.name, "hints.toml")
    if not path.is_file():
        return table
    try:
        entries = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        table.problems.append(f"{path.name}: {exc}")
        return table
    for bug, entry in entries.items():
        folder = course.path("tests", "submissions", week.name, bug)
        case_path = folder / "case.toml"
        if not isinstance(entry, dict) or not isinstance(entry.get("hint"), str):
            table.problems.append(f"{path.name}: [{bug}] needs a hint")
            continue
        if not case_path.is_file():  # a course copy without tests/ grades without this hint
            table.problems.append(f"{path.name}: [{bug}] has no bug in tests/submissions/{week.name}/")
            continue
        case = tomllib.loads(case_path.read_text())
        checks = list(entry.get("checks", case.get("must_fail", [])))
        checks = [c for c in checks if c in week.checks and week.checks[c].timeout <= HINT_TIMEOUT]
        table.hints.append(Hint(bug, " ".join(entry["hint"].split()), checks, folder))
    return table


# --- running a bug in the grader's process ---


class LocalSubmission:
    """The reference solution with a bug's files, answering requests in this process like worker.py."""

    def __init__(self, course, week, folder: Path):
        self.course, self.week, self.folder = course, week, Path(folder)
        self.modules = None  # loaded on first use

    def _file(self, name: str) -> Path:
        own = self.folder / name
        return own if own.is_file() else self.course.path("solutions", self.week.name, name)

    def require(self, *files: str) -> None:
        pass

    def source(self, name: str) -> str:
        path = self._file(name)
        return path.read_text() if path.is_file() else ""

    def _load(self):
        if self.modules is None:
            from ..train import load_modules

            names = list(self.week.all_modules)
            own = {n: self.folder / f"{n}.py" for n in names if (self.folder / f"{n}.py").is_file()}
            solutions = self.course.path("solutions", self.week.name)
            self.modules = vars(load_modules(solutions, names, f"_hint_{self.week.name}_{self.folder.name}", own))
        return self.modules

    def request(self, request: dict, during: str) -> dict:
        from . import worker

        modules = self._load()
        request = wire.decode(wire.encode(request)[8:])
        # By plain name, as the worker imports them, and by their own name, as code that reads
        # `type(obj).__module__` does.
        names = {**modules, **{m.__name__: m for m in modules.values()}}
        saved = {n: sys.modules.get(n) for n in names}
        sys.modules.update(names)
        try:
            with torch.random.fork_rng(devices=[]):
                answer = worker.OPS[request["op"]](request)
        except Exception as exc:  # the bug's own error, as a submission's process would report it
            answer = {"error": {"type": type(exc).__name__, "message": str(exc)[:300], "where": ""}}
        finally:
            for name, old in saved.items():
                if old is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = old
        answer = wire.decode(wire.encode(answer)[8:])
        if isinstance(answer.get("error"), dict):
            raise StudentError(describe_error(answer["error"]))
        return answer


# --- the check, run again ---


def snapshot_args(item) -> dict:
    """The check's arguments before it runs: generators by state, other per-check values copied."""
    names = inspect.signature(item.obj).parameters
    defs = getattr(item, "_fixtureinfo", None)
    saved = {}
    for name in names:
        if name not in item.funcargs:
            continue
        value = item.funcargs[name]
        scope = "session"
        if defs is not None and name in defs.name2fixturedefs:
            scope = defs.name2fixturedefs[name][-1].scope
        if isinstance(value, torch.Generator):
            saved[name] = ("generator", value.device, value.get_state())
        elif scope == "function":
            try:
                saved[name] = ("copy", copy.deepcopy(value))
            except Exception:
                saved[name] = ("same", value)
        else:
            saved[name] = ("same", value)
    return saved


def _restore(saved: dict) -> dict:
    args = {}
    for name, (kind, *rest) in saved.items():
        if kind == "generator":
            device, state = rest
            g = torch.Generator(device=device)
            g.set_state(state)
            args[name] = g
        elif kind == "copy":
            args[name] = copy.deepcopy(rest[0])
        else:
            args[name] = rest[0]
    return args


_ANSWERS: dict = {}  # (week, bug folder, check, device) -> the bug's answers, or None when it passes or errs


def bug_answers(course, week, hint: Hint, check: str, item, saved: dict, student) -> list | None:
    """The answers the bug gives during `check` (None when the bug passes it or does not run)."""
    key = (week.name, str(hint.folder), check, student.device)
    if key not in _ANSWERS:
        from .student import Student

        local = Student(LocalSubmission(course, week, hint.folder), student.forbid, student.device)
        local.answers = []
        args = _restore(saved)
        args["student"] = local
        result = None
        try:
            item.obj(**args)
        except CheckFailed:
            result = local.answers
        except Exception:
            result = None
        _ANSWERS[key] = result
    return _ANSWERS[key]


def same(a, b) -> bool:
    """Answers equal up to float rounding: tensors close (RELATIVE), containers alike, numbers close."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return False
        if a.dtype == torch.bool or b.dtype == torch.bool or not (a.is_floating_point() or b.is_floating_point()):
            return a.dtype == b.dtype and torch.equal(a.cpu(), b.cpu())
        rel = RELATIVE.get(a.dtype if a.is_floating_point() else b.dtype, 1e-5)
        x, y = a.detach().double().cpu(), b.detach().double().cpu()
        scale = y[torch.isfinite(y)].abs().max().item() if torch.isfinite(y).any() else 0.0
        return bool(torch.allclose(x, y, rtol=rel, atol=rel * scale + 1e-30, equal_nan=True))
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) - set(IGNORED)
        return keys == set(b) - set(IGNORED) and all(same(a[k], b[k]) for k in keys)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def find_hint(course, week, table: HintTable, check: str, item, saved: dict, student) -> str | None:
    """The hint of the first bug whose answers during `check` are the submission's; None if none is."""
    answers = getattr(student, "answers", None)
    if not answers:
        return None
    for hint in table.for_check(check):
        theirs = bug_answers(course, week, hint, check, item, saved, student)
        if theirs is not None and same(answers, theirs):
            return hint.text
    return None

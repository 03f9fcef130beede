"""Hints that name the bug (coursekit/grading/hints.py and each week's graders/WEEK/hints.toml).

Each week's test_WEEK_grading.py shows every hint firing on its own classic
bug. Here: every week ships a table that loads; a mistake written another
way than the classic bug's code gets the same hint; a mistake that matches
no classic bug gets none; and the comparison of answers itself.
"""

import json
import subprocess
import sys
import tomllib

import pytest
import torch
from conftest import ROOT, WEEKS, make_submission

from coursekit.grading.hints import load_table, same


@pytest.mark.parametrize("week", WEEKS)
def test_every_week_ships_a_hint_table(course, week):
    table = load_table(course, course.week(week))
    assert (ROOT / "graders" / week / "hints.toml").is_file()
    assert not table.problems
    assert len(table.hints) >= 5
    for hint in table.hints:
        case = tomllib.loads((hint.folder / "case.toml").read_text())
        assert case["kind"] == "bug", hint.bug
        assert hint.checks, f"{hint.bug}: no check of 60 s or less to name it on"
        assert 20 <= len(hint.text) <= 240, hint.bug


def grade(submission, only, tmp_path):
    out = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "grade", "week1", "--submission", str(submission),
         "--only", ",".join(only), "--json", str(out)],
        cwd=ROOT, check=False, capture_output=True,
    )  # fmt: skip
    return {t["name"]: t for t in json.loads(out.read_text())["tests"]}


SCALED = "    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., Lq, Lk)"


@pytest.mark.slow
@pytest.mark.parametrize("scores, named", [
    ('torch.einsum("...id,...jd->...ij", q, k)', "without the 1/sqrt(d_k) scaling"),  # the classic bug, other code
    ("(q / d_k**0.25) @ (k / d_k**0.25).transpose(-2, -1) / d_k**0.5", "d_k instead of sqrt(d_k)"),
    ("q @ k.transpose(-2, -1) * 2 / math.sqrt(d_k)", None),  # wrong, but no classic bug: no hint
])  # fmt: skip
def test_a_mistake_written_another_way_gets_its_hint(tmp_path, scores, named):
    source = (ROOT / "solutions" / "week1" / "attention.py").read_text()
    assert SCALED in source
    submission = make_submission(tmp_path / "s", overlay={"attention.py": source.replace(SCALED, f"    scores = {scores}")})
    report = grade(submission, ["sdpa_matches_reference", "causal_mask"], tmp_path)
    assert report["causal_mask"]["status"] == "passed"
    reason = report["sdpa_matches_reference"]["output"]
    assert report["sdpa_matches_reference"]["status"] == "failed"
    if named:
        assert named in reason.split("Hint: ")[1]
    else:
        assert "Hint:" not in reason


def test_answers_are_the_same_up_to_rounding():
    a = {"outputs": (torch.tensor([1.0, 2.0]), 3), "forbidden": ["x"]}
    assert same(a, {"outputs": (torch.tensor([1.0, 2.0 + 1e-6]), 3), "forbidden": []})
    assert not same(a, {"outputs": (torch.tensor([1.0, 2.1]), 3), "forbidden": []})
    assert not same(a, {"outputs": (torch.tensor([1.0, 2.0]), 4)})
    assert not same(a, {"outputs": (torch.tensor([[1.0, 2.0]]), 3)})  # another shape
    assert not same(torch.tensor([True, False]), torch.tensor([1, 0]))  # another dtype, not floating
    assert same([0.1 + 0.2, "a"], [0.3, "a"]) and not same([1.0], [1.0, 2.0])
    assert same(torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0]))
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert same(x, x + 1e-12) and not same(x, x * (1 + 1e-7))  # float64 answers: to float64 rounding
    assert same(0.1 + 0.2, 0.3) and not same(1.0, 1.0 + 1e-7)  # numbers too

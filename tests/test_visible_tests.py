"""What a student sees: `pytest exercises/WEEK` on the stubs and on the solutions."""

import ast
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, WEEKS


def visible_tests(week):
    """The number of visible test functions in source/WEEK/test_*.py."""
    return sum(
        1
        for path in (ROOT / "source" / week).glob("test_*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    )


def run_pytest(folder):
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )


@pytest.mark.parametrize("week", WEEKS)
def test_stubs_fail_each_test_with_one_todo_line(week):
    proc = run_pytest(ROOT / "exercises" / week)
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == visible_tests(week) >= 5, proc.stdout[-3000:]
    for line in failed:
        assert re.search(r" - TODO: implement \w+(\.\w+)? in \w+\.py$", line), line
    assert "Traceback" not in proc.stdout and "raise NotImplementedError" not in proc.stdout


@pytest.mark.parametrize("week", WEEKS)
def test_reference_passes_the_visible_tests(week):
    proc = run_pytest(ROOT / "solutions" / week)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert f"{visible_tests(week)} passed" in proc.stdout


def test_each_exercise_is_a_marker():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "solutions/week1", "-q", "-p", "no:cacheprovider", "-m", "positional_encoding"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0 and "3 passed, 10 deselected" in proc.stdout, proc.stdout[-1000:]

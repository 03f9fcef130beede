"""What a student sees: `pytest exercises/week1` on the stubs and on the solutions."""

import os
import re
import subprocess
import sys

from conftest import ROOT


def run_pytest(folder):
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})


def test_stubs_fail_each_test_with_one_todo_line():
    proc = run_pytest(ROOT / "exercises" / "week1")
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 13
    for line in failed:
        assert re.search(r" - TODO: implement \w+(\.\w+)? in \w+\.py$", line), line
    assert "Traceback" not in proc.stdout and "raise NotImplementedError" not in proc.stdout


def test_reference_passes_the_visible_tests():
    proc = run_pytest(ROOT / "solutions" / "week1")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "13 passed" in proc.stdout


def test_each_exercise_is_a_marker():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "solutions/week1", "-q", "-p", "no:cacheprovider", "-m", "positional_encoding"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0 and "3 passed, 10 deselected" in proc.stdout, proc.stdout[-1000:]

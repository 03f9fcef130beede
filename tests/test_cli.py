"""The `course` command's contract: exit codes, one-line errors, and the JSON report."""

import json
import subprocess
import sys

from conftest import ROOT


def course(*args):
    return subprocess.run([sys.executable, "-m", "coursekit.cli", *args], cwd=ROOT, capture_output=True, text=True)


def test_missing_submission_folder_is_a_one_line_error():
    proc = course("grade", "week1", "--submission", "no/such/folder")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "course: submission folder not found: no/such/folder"


def test_unknown_week_and_unknown_check_are_errors():
    proc = course("grade", "week99", "--submission", "solutions/week1")
    assert proc.returncode == 2 and "unknown week 'week99'" in proc.stderr
    proc = course("grade", "week1", "--submission", "solutions/week1", "--only", "no_such_check")
    assert proc.returncode == 2 and "unknown check(s): no_such_check" in proc.stderr


def test_grade_writes_json_and_gradescope_and_exits_zero_whatever_the_score(tmp_path):
    out, gradescope = tmp_path / "report.json", tmp_path / "results.json"
    proc = course("grade", "week1", "--submission", "exercises/week1", "--only", "causal_mask,pe_values", "--json", str(out), "--gradescope", str(gradescope))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["score"] == 0 and report["max_score"] == 3
    assert [t["name"] for t in report["tests"]] == ["causal_mask", "pe_values"]
    for t in report["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "seconds"}
        assert t["status"] == "failed" and t["output"].startswith("TODO")
    assert "causal_mask" in proc.stdout and "score: 0 / 3" in proc.stdout
    results = json.loads(gradescope.read_text())  # Gradescope's schema, each test with its visibility
    assert results["score"] == 0 and set(results) >= {"score", "tests", "stdout_visibility"}
    for t in results["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] == "failed" and t["visibility"] == "after_due_date"

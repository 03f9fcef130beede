"""The instructor's whole cycle, for real: nbgrader release, fetch, submit and collect,
students' notebooks executed by a real Jupyter kernel, `course autograde` into nbgrader's
gradebook, feedback, and both `course export` and `nbgrader export`."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_instructor")]

COURSE = "llm-from-scratch"
# attention.py's checks: what a student who finished only that module earns.
ATTENTION_POINTS = 14


def run(env, cwd, *args, ok=True):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if ok:
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def course_cmd(env, cwd, *args, ok=True):
    return run(env, cwd, sys.executable, "-m", "coursekit.cli", *args, ok=ok)


def nbgrader(env, cwd, *args):
    return run(env, cwd, sys.executable, "-m", "nbgrader", *args)


def solution_code(grade_id):
    """The reference code of one solution cell, from the source notebook, markers removed."""
    nb = nbformat.read(ROOT / "source" / "week1" / "week1.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.id == grade_id)
    return "\n".join(
        line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


def hidden_lines_in(text):
    """Lines of the hidden suite's code (longer than 25 characters, not comments) found in `text`."""
    code = [line.strip() for p in (ROOT / "graders" / "week1").glob("*.py") for line in p.read_text().splitlines()]
    return [line for line in code if len(line) > 25 and not line.startswith("#") and line in text]


def fill(nb, modules, warn=False):
    """Write the reference into the solution cells of `modules` (dashed grade-id prefixes)."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.id.startswith(tuple(f"{m}-" for m in modules)):
            cell.source = solution_code(cell.id)
            if warn and "return pe" in cell.source:
                # A correct answer that makes PyTorch warn on stderr (copy-constructing a tensor).
                cell.source = cell.source.replace("return pe", "pe = torch.tensor(pe)\n    return pe")
    return nb


@pytest.fixture(scope="module")
def cycle(tmp_path_factory, released_template):
    """`course release week1` (in released_template), then the class's term."""
    base = tmp_path_factory.mktemp("cycle")
    root = base / "course"
    shutil.copytree(released_template, root)
    env = {
        **os.environ,
        "COURSE_ROOT": str(root),
        "COURSE_EXCHANGE": str(root / "exchange"),
    }
    assert (root / "exchange" / COURSE / "outbound" / "week1" / "week1.ipynb").is_file()
    for student in (
        "alice",
        "bob",
        "carol",
        "dave",
    ):  # the class roster; mallory is not on it
        nbgrader(env, root, "db", "student", "add", student)

    everyone = ("alice", "bob", "carol", "dave", "mallory")
    for student in everyone:
        home = base / "home" / student
        home.mkdir(parents=True)
        nbgrader(
            env,
            home,
            "fetch_assignment",
            "week1",
            f"--course={COURSE}",
            f"--Exchange.root={env['COURSE_EXCHANGE']}",
        )
    work = {s: base / "home" / s / "week1" for s in everyone}
    released = nbformat.read(work["alice"] / "week1.ipynb", as_version=4)
    assert not any("### BEGIN SOLUTION" in c.source for c in released.cells), "the release carries no solutions"
    assert not hidden_lines_in("\n".join(c.source for c in released.cells)), "nor hidden checks"

    all_modules = ("attention", "positional-encoding", "multi-head-attention")
    # alice: correct, PyTorch warns; she runs her notebook in Jupyter before submitting.
    alice = fill(released, all_modules, warn=True)
    NotebookClient(
        alice,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(work["alice"])}},
    ).execute()
    nbformat.write(alice, work["alice"] / "week1.ipynb")
    # bob: only attention.py done.
    nbformat.write(
        fill(nbformat.read(work["bob"] / "week1.ipynb", as_version=4), ("attention",)),
        work["bob"] / "week1.ipynb",
    )
    # carol: her notebook is cut off half-way (a crashed save).
    text = (work["carol"] / "week1.ipynb").read_text()
    (work["carol"] / "week1.ipynb").write_text(text[: len(text) // 2])
    # dave: submits .py files instead of the notebook.
    (work["dave"] / "week1.ipynb").unlink()
    for name in ("attention.py", "positional_encoding.py", "multi_head_attention.py"):
        shutil.copyfile(ROOT / "solutions" / "week1" / name, work["dave"] / name)
    # mallory: a correct notebook, but not on the roster.
    nbformat.write(
        fill(nbformat.read(work["mallory"] / "week1.ipynb", as_version=4), all_modules),
        work["mallory"] / "week1.ipynb",
    )

    for student in everyone:
        nbgrader(
            env,
            work[student].parent,
            "submit",
            "week1",
            f"--course={COURSE}",
            f"--student={student}",
            f"--Exchange.root={env['COURSE_EXCHANGE']}",
        )
    course_cmd(env, root, "collect", "week1")
    assert sorted(p.name for p in (root / "submitted").iterdir()) == sorted(everyone)
    graded = course_cmd(env, root, "autograde", "week1", "--jobs", "2", "--device", "cpu", ok=False)
    return {"root": root, "env": env, "alice": alice, "autograde": graded}


def export(cycle):
    out = course_cmd(cycle["env"], cycle["root"], "export", "--format", "csv").stdout
    return {row["student_id"]: row for row in csv.DictReader(io.StringIO(out))}


def test_alice_warned_on_stderr_and_would_lose_nbgrader_points(cycle):
    streams = [
        o
        for c in cycle["alice"].cells
        for o in c.get("outputs", [])
        if o.output_type == "stream" and o.name == "stderr"
    ]
    errors = [o for c in cycle["alice"].cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors and any("UserWarning" in o.text for o in streams)


def test_autograde_grades_the_class_and_reports_the_unknown_student(cycle):
    proc = cycle["autograde"]
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one error: mallory
    assert re.search(r"mallory.*error.*unknown student", proc.stdout)
    grades = export(cycle)
    assert set(grades) == {"alice", "bob", "carol", "dave"}
    assert grades["alice"]["score"] == "32" and grades["alice"]["max_score"] == "32"
    assert grades["dave"]["score"] == "32"
    assert grades["bob"]["score"] == str(ATTENTION_POINTS)
    assert grades["bob"]["sdpa_matches_reference"] == "3" and grades["bob"]["mha_structure"] == "0"
    assert grades["carol"]["score"] == "0"


def test_nbgrader_sees_the_grades(cycle):
    root, env = cycle["root"], cycle["env"]
    nbgrader(env, root, "export", "--to", str(root / "grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader((root / "grades.csv").open())}
    assert float(rows["alice"]["score"]) == 32 and float(rows["alice"]["max_score"]) == 32
    assert float(rows["bob"]["score"]) == ATTENTION_POINTS
    assert float(rows["carol"]["score"]) == 0


def test_feedback_names_failures_without_leaking_the_checks(cycle):
    root, env = cycle["root"], cycle["env"]
    course_cmd(env, root, "feedback", "week1")
    carol = (root / "feedback" / "carol" / "week1" / "feedback.md").read_text()
    assert "week1.ipynb is not a readable notebook: invalid JSON" in carol
    bob = (root / "feedback" / "bob" / "week1" / "feedback.md").read_text()
    assert re.search(r"`mha_structure`.*\| 0/1 \| .*TODO", bob)
    assert (root / "feedback" / "alice" / "week1" / "week1.html").read_text().count("passed") >= 18
    leaks = hidden_lines_in("".join(f.read_text() for f in (root / "feedback").rglob("*.*")))
    assert not leaks, f"feedback shows the hidden suite's code: {leaks[:3]}"


def test_rerun_skips_what_is_graded_and_keeps_the_grades(cycle):
    before = export(cycle)
    proc = course_cmd(
        cycle["env"],
        cycle["root"],
        "autograde",
        "week1",
        "--students",
        "alice,bob,carol,dave",
    )
    assert proc.stdout.count("skipped") == 4, proc.stdout
    assert export(cycle) == before


def test_gradescope_and_csv_reports(cycle, tmp_path):
    root, env = cycle["root"], cycle["env"]
    course_cmd(env, root, "grade", "week1", "--submission", str(root / "submitted" / "dave" / "week1"),
               "--only", "sdpa_shapes,causal_mask", "--gradescope", str(tmp_path / "results.json"), "--csv", str(tmp_path / "r.csv"))  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 2 and {t["visibility"] for t in results["tests"]} == {"after_due_date"}
    assert all(t["status"] == "passed" for t in results["tests"])
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    assert rows[0] == ["check", "score", "max_score", "status", "reason"] and rows[-1][:3] == ["total", "2", "2"]

"""`course build`: one source, four generated outputs, and --check catching staleness."""

import shutil
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, WEEKS

from coursekit import build
from coursekit.markers import MarkerError, find_regions, make_stub, solution_text, strip_markers

SAMPLE = '''import torch


class Model:
    def forward(self, x):
        """Doc."""
        ### BEGIN SOLUTION
        return x * 2
        ### END SOLUTION


def helper(x):
    y = x + 1
    ### BEGIN SOLUTION
    return y
    ### END SOLUTION
'''


def test_stub_names_each_todo_and_keeps_the_rest():
    stub = make_stub(SAMPLE, "model.py")
    assert "return x * 2" not in stub and "return y" not in stub
    assert "raise NotImplementedError('TODO: implement Model.forward in model.py')" in stub
    assert "    raise NotImplementedError('TODO: implement helper in model.py')" in stub
    assert '"""Doc."""' in stub and "y = x + 1" in stub
    compile(stub, "model.py", "exec")


def test_solution_strips_only_the_markers():
    solution = strip_markers(SAMPLE)
    assert "### " not in solution
    assert solution.count("\n") == SAMPLE.count("\n") - 4
    assert "return x * 2" in solution and "return y" in solution


@pytest.mark.parametrize("text", [
    "### BEGIN SOLUTION\nx = 1\n",
    "x = 1\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])  # fmt: skip
def test_unbalanced_markers_are_an_error(text):
    with pytest.raises(MarkerError):
        find_regions(text.splitlines(), "bad.py")


def test_generated_files_are_up_to_date():
    proc = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "build", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_names_stale_missing_and_unexpected_files(tmp_path, course):
    for name in ("course_config.py", "data", "source", "exercises", "solutions", "release"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, tmp_path / name)
    from coursekit.config import load_course

    copy = load_course(tmp_path)
    week = copy.week("week1")
    assert build.check(copy, week) == []
    (tmp_path / "exercises/week1/attention.py").write_text("# edited\n")
    (tmp_path / "release/week1/week1.ipynb").unlink()
    (tmp_path / "solutions/week1/stray.py").write_text("")
    with open(tmp_path / "source/week1/positional_encoding.py", "a") as f:
        f.write("\n# a change to the source\n")
    problems = build.check(copy, week)
    assert "stale: exercises/week1/attention.py" in problems
    assert "missing: release/week1/week1.ipynb" in problems
    assert "unexpected: solutions/week1/stray.py (not generated from source/week1)" in problems
    assert "stale: exercises/week1/positional_encoding.py" in problems
    assert "stale: solutions/week1/positional_encoding.py" in problems
    assert "stale: source/week1/week1.ipynb" in problems
    build.write(copy, week)
    assert build.check(copy, week) == []


def solution_lines(course, week):
    """The week's own solution lines (provided modules are finished code, shown on purpose),
    less those the lesson shows anyway: a docstring may spell out a step such as
    `torch.manual_seed(seed)`, and a visible test or the README may use the same line."""
    lines, shown = set(), []
    folder = course.path("source", week.name)
    for module in week.modules:
        text = (folder / f"{module}.py").read_text()
        lines.update(line.strip() for line in solution_text(text) if len(line.strip()) > 12)
        shown.append(make_stub(text, f"{module}.py"))
    shown += [path.read_text() for path in [folder / "README.md", *folder.glob("test_*.py")]]
    return {line for line in lines if not any(line in text for text in shown)}


@pytest.mark.parametrize("week_name", WEEKS)
def test_no_solution_text_reaches_students(course, week_name):
    week = course.week(week_name)
    secret = solution_lines(course, week)
    assert len(secret) > 10
    student_files = [p for d in ("exercises", "release") for p in (ROOT / d / week_name).glob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in student_files)
    for path in student_files:
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c.source) for c in nbformat.reads(text, as_version=4).cells)
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{path.relative_to(ROOT)} contains solution text: {leaked[:3]}"


def test_source_notebook_marks_cells_for_nbgrader(course):
    nb = nbformat.read(ROOT / "source" / "week1" / "week1.ipynb", as_version=4)
    meta = [c.metadata["nbgrader"] for c in nb.cells]
    solutions = {m["grade_id"] for m in meta if m["solution"]}
    assert solutions == {
        "attention-scaled-dot-product-attention", "attention-causal-mask",
        "positional-encoding-sinusoidal-positional-encoding", "multi-head-attention-MultiHeadAttention",
    }  # fmt: skip
    # Visible tests are for the learner, read-only and ungraded: they run in the learner's kernel,
    # where anything can be patched. Every hidden check is a task cell worth its points.
    assert not any(m["grade"] for m in meta)
    assert len([m for m in meta if m["grade_id"].startswith("test-sdpa") and m["locked"]]) == 5
    week = course.week("week1")
    tasks = {m["grade_id"]: m["points"] for m in meta if m["task"]}
    assert tasks == {f"check-{name}": check.points for name, check in week.checks.items()}
    assert len({c.id for c in nb.cells}) == len(nb.cells)


@pytest.mark.parametrize("week_name", WEEKS)
def test_release_notebook_comes_from_nbgrader(course, week_name):
    release = nbformat.read(ROOT / "release" / week_name / f"{week_name}.ipynb", as_version=4)
    stubs = [c for c in release.cells if c.metadata["nbgrader"].get("solution")]
    assert stubs and all("raise NotImplementedError" in c.source for c in stubs)
    # nbgrader's generate_assignment records a checksum for every graded or solution cell.
    assert all(
        "checksum" in c.metadata["nbgrader"]
        for c in release.cells
        if c.metadata["nbgrader"]["grade"] or c.metadata["nbgrader"]["solution"]
    )


def test_provided_modules_are_the_earlier_weeks_reference(course):
    """A week built on earlier ones gets their finished modules, read-only in its notebook."""
    weeks = [w for w in course.weeks.values() if w.provided]
    assert weeks
    for week in weeks:
        nb = nbformat.read(ROOT / "source" / week.name / f"{week.name}.ipynb", as_version=4)
        for module, origin in week.provided.items():
            reference = (ROOT / "solutions" / origin / f"{module}.py").read_text().split("\n", 1)[1]
            for folder in ("exercises", "solutions"):
                text = (ROOT / folder / week.name / f"{module}.py").read_text()
                assert text.startswith("# Provided, finished") and text.endswith(reference)
            cells = [c for c in nb.cells if c.id.startswith(module.replace("_", "-") + "-")]
            assert cells and all(c.metadata["nbgrader"]["locked"] for c in cells)
            assert not any(c.metadata["nbgrader"]["solution"] for c in cells)


def test_a_provided_module_must_exist(tmp_path):
    from coursekit.config import CourseError, load_course

    text = (ROOT / "course_config.py").read_text()
    (tmp_path / "course_config.py").write_text(
        text.replace('"provided": {"attention": "week1"', '"provided": {"attention": "week2"', 1)
    )
    with pytest.raises(CourseError, match="no such module"):
        load_course(tmp_path)

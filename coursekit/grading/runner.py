"""Run a week's hidden grading suite on one submission and report the grade."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from ..config import Course, CourseError, Week
from .plugin import CheckResult, GraderPlugin


class GradingError(CourseError):
    """Grading itself could not run (not a property of the submission)."""


@dataclass
class GradeReport:
    week: str
    submission: str
    tests: list[CheckResult]

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    def by_name(self) -> dict[str, CheckResult]:
        return {t.name: t for t in self.tests}

    def to_json(self) -> dict:
        """The fields of Gradescope's results.json."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(sum(t.seconds for t in self.tests), 2),
            "tests": [
                {k: v for k, v in asdict(t).items() if k in ("name", "score", "max_score", "status", "output")}
                for t in self.tests
            ],
        }


def grade(
    course: Course,
    week: Week,
    submission: str | Path,
    only: list[str] | None = None,
    device: str = "cpu",
    timeout_cap: float | None = None,
) -> GradeReport:
    """Grade one submission folder with the week's hidden suite (see plugin.py)."""
    submission = Path(submission)
    if not submission.is_dir():
        raise GradingError(f"submission folder not found: {submission}")
    graders = course.path("graders", week.name)
    if not graders.is_dir():
        raise GradingError(f"no hidden grading suite at {graders}")
    if not course.path("solutions", week.name).is_dir():
        raise GradingError(f"no reference solutions at solutions/{week.name}: run `course build`")
    plugin = GraderPlugin(course, week, submission.resolve(), only=only, device=device, timeout_cap=timeout_cap)
    args = [
        str(graders),
        "-c", str(course.path("graders", "pytest.ini")),
        "--rootdir", str(course.path("graders")),
        "--import-mode=importlib",
        "-p", "no:cacheprovider",
        "-q", "--no-header", "-p", "no:warnings",
    ]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = pytest.main(args, plugins=[plugin])
    if plugin.problems:
        raise GradingError(f"the {week.name} grading suite is inconsistent: " + "; ".join(plugin.problems))
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        tail = "\n".join(out.getvalue().strip().splitlines()[-15:])
        raise GradingError(f"the {week.name} grading suite could not run (pytest exit {int(code)}):\n{tail}")
    wanted = only or list(week.checks)
    tests = []
    for name in wanted:
        check = week.checks[name]
        tests.append(plugin.results.get(name) or CheckResult(name, 0.0, check.points, "error", "the check did not run"))
    return GradeReport(week.name, str(submission), tests)


def render_table(report: GradeReport, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{report.week}: {report.submission}", title_justify="left")
    table.add_column("check")
    table.add_column("points", justify="right")
    table.add_column("reason")
    for t in report.tests:
        style = "green" if t.status == "passed" else ("red" if t.status == "failed" else "yellow")
        table.add_row(t.name, f"[{style}]{t.score:g}/{t.max_score:g}[/]", t.output)
    console.print(table)
    console.print(f"[bold]score: {report.score:g} / {report.max_score:g}[/]")


def write_json(report: GradeReport, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    tmp.replace(path)

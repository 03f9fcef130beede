"""Run a week's hidden grading suite on one submission and report the grade."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import asdict, dataclass, field
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
    notes: list[str] = field(default_factory=list)  # about the submission as a whole
    wall_seconds: float = 0.0  # the whole grading of the submission, start-up included
    isolation: str = ""  # how the submission's process was isolated (sandbox.describe())

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    def by_name(self) -> dict[str, CheckResult]:
        return {t.name: t for t in self.tests}

    def to_json(self) -> dict:
        """The report as JSON: the score, and each check's score, status and one-line reason."""
        return {
            "week": self.week,
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(sum(t.seconds for t in self.tests), 2),
            "wall_seconds": round(self.wall_seconds, 3),
            "isolation": self.isolation,
            "notes": list(self.notes),
            "tests": [asdict(t) for t in self.tests],
        }

    @classmethod
    def from_json(cls, data: dict) -> GradeReport:
        tests = [CheckResult(**t) for t in data["tests"]]
        notes = data.get("notes", [])
        wall, isolation = data.get("wall_seconds", 0.0), data.get("isolation", "")
        return cls(data["week"], data["submission"], tests, notes, wall, isolation)

    def to_gradescope(self, week: Week, default_visibility: str = "after_due_date") -> dict:
        """Gradescope's results.json. Each check carries its visibility (from course_config.py),
        so hidden checks stay hidden until the due date; the output is always the one-line reason."""
        visibility = {name: check.visibility or default_visibility for name, check in week.checks.items()}
        return {
            "score": self.score,
            "execution_time": round(sum(t.seconds for t in self.tests), 2),
            "output": "\n".join(self.notes),
            "stdout_visibility": "hidden",
            "tests": [
                {
                    "name": t.name,
                    "score": t.score,
                    "max_score": t.max_score,
                    "status": "passed" if t.status == "passed" else "failed",
                    "output": t.output,
                    "visibility": visibility.get(t.name, default_visibility),
                }
                for t in self.tests
            ],
        }

    def to_csv(self) -> str:
        """One row per check: check, score, max_score, status, reason."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["check", "score", "max_score", "status", "reason"])
        for t in self.tests:
            writer.writerow([t.name, f"{t.score:g}", f"{t.max_score:g}", t.status, t.output])
        writer.writerow(["total", f"{self.score:g}", f"{self.max_score:g}", "", ""])
        return out.getvalue()


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
    plugin = GraderPlugin(
        course,
        week,
        submission.resolve(),
        only=only,
        device=device,
        timeout_cap=timeout_cap,
    )
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
    return GradeReport(week.name, str(submission), tests, isolation=plugin.submission.describe())


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
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"[bold]score: {report.score:g} / {report.max_score:g}[/]")
    if report.isolation:
        console.print(f"[dim]isolation: {report.isolation}[/]")


def failed_report(week: Week, submission: str, reason: str, notes: list[str] | None = None) -> GradeReport:
    """Zero for every check, each with the same one-line reason (a submission that cannot be graded)."""
    tests = [CheckResult(name, 0.0, check.points, "error", reason) for name, check in week.checks.items()]
    return GradeReport(week.name, submission, tests, list(notes or []))


def write_text(path: str | Path, text: str) -> None:
    """Write a file atomically: readers see the old content or the new, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_json(report: GradeReport, path: str | Path) -> None:
    write_text(path, json.dumps(report.to_json(), indent=2) + "\n")

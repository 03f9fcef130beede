"""The instructor's cycle on nbgrader: release, collect, autograde, feedback, export.

Release and collect are nbgrader's own commands, run in the course folder
(its `nbgrader_config.py` loads `course_config.py`, so they use the course id,
gradebook and exchange configured there). Autograde is the course's: every
collected submission, notebook or `.py` files, is graded by the hidden suite
in its own process (see grading/), several at once, and its scores are
written to nbgrader's gradebook. The batch is resumable: a submission whose
results are on disk and in the gradebook, for the same submitted files, is
skipped unless `force`; every result is written atomically as it arrives,
so an interrupted batch keeps everything finished before the interruption.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from . import gradebook
from .config import Course, CourseError, Week, load_course, put_scripts_on_path
from .grading.runner import GradeReport, failed_report, write_text

RESULTS = "results.json"


def nbgrader(course: Course, *args: str) -> str:
    """Run one nbgrader command in the course folder; raise CourseError with its log on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    put_scripts_on_path()
    proc = subprocess.run(cmd, cwd=course.root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise CourseError(f"`nbgrader {' '.join(args)}` failed:\n{tail}")
    return proc.stderr + proc.stdout


def release(course: Course, week: Week) -> str:
    """nbgrader generate_assignment (into the gradebook) then release_assignment (into the exchange)."""
    if not course.path("source", week.name, f"{week.name}.ipynb").is_file():
        raise CourseError(f"source/{week.name}/{week.name}.ipynb is missing: run `course build {week.name}`")
    log = nbgrader(course, "generate_assignment", week.name, "--force")
    log += nbgrader(course, "release_assignment", week.name, "--force")
    return log


def collect(course: Course, week: Week, update: bool = True) -> str:
    args = ["collect", week.name] + (["--update"] if update else [])
    return nbgrader(course, *args)


# ---------------------------------------------------------------- autograde


def submissions(course: Course, week: Week, students: list[str] | None = None) -> dict[str, Path]:
    """student -> collected submission folder (submitted/STUDENT/WEEK)."""
    base = course.path("submitted")
    found = {p.parent.name: p for p in sorted(base.glob(f"*/{week.name}")) if p.is_dir()} if base.is_dir() else {}
    if students:
        unknown = [s for s in students if s not in found]
        if unknown:
            raise CourseError(f"no collected {week.name} submission for: {', '.join(unknown)}")
        found = {s: found[s] for s in students}
    return found


def fingerprint(folder: Path) -> str:
    """A hash of every submitted file, so a re-collected submission is graded again."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def results_path(course: Course, week: Week, student: str) -> Path:
    return course.path("autograded", student, week.name, RESULTS)


def grade_submission(
    root: str,
    week_name: str,
    folder: str,
    device: str,
    timeout_cap: float | None = None,
) -> dict:
    """Grade one collected submission (runs in a pool process); returns the report as JSON.

    Never raises for a property of the submission: an unreadable notebook or an
    empty folder is a report with zero for every check and the reason."""
    from .grading.runner import grade
    from .intake import IntakeError, intake, write

    start = time.perf_counter()
    course = load_course(root)
    week = course.week(week_name)
    try:
        taken = intake(Path(folder), week)
    except IntakeError as exc:
        return failed_report(week, folder, str(exc)).to_json()
    scratch = Path(tempfile.mkdtemp(prefix="course-intake-"))
    try:
        write(taken, scratch)
        report = grade(course, week, scratch, device=device, timeout_cap=timeout_cap)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.submission = folder
    from_nb = [m for m, o in taken.origin.items() if o == "notebook"]
    if from_nb:
        report.notes.insert(0, f"graded from the notebook: {', '.join(from_nb)}")
    report.notes += taken.notes
    report.wall_seconds = time.perf_counter() - start
    return report.to_json()


@dataclass
class Outcome:
    student: str
    status: str  # "graded", "skipped", "error"
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""


def _pending(course, week, subs, force, known, recorded, create_students):
    """Split the class into (to grade, outcomes already decided)."""
    todo, done = {}, []
    for student, folder in subs.items():
        if student not in known and not create_students:
            done.append(
                Outcome(
                    student,
                    "error",
                    0.0,
                    week.max_score,
                    f"unknown student {student!r}: not graded",
                )
            )
            continue
        if not force:
            path = results_path(course, week, student)
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                stored = None
            if stored and stored.get("fingerprint") == fingerprint(folder):
                report = GradeReport.from_json(stored["report"])
                if student not in recorded:
                    _record(course, week, student, folder, report, create_students)  # finish an interrupted write
                done.append(
                    Outcome(
                        student,
                        "skipped",
                        report.score,
                        report.max_score,
                        "already graded",
                    )
                )
                continue
        todo[student] = folder
    return todo, done


def _timestamp(folder: Path) -> str | None:
    path = folder / "timestamp.txt"
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def _record(course, week, student, folder, report, create_students) -> None:
    gradebook.record(
        course,
        week,
        student,
        report,
        _timestamp(folder),
        create_student=create_students,
    )


def _store(course, week, student, folder, report) -> None:
    dest = results_path(course, week, student).parent
    dest.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():  # the graded copy, as nbgrader's autograded/ folder holds
        if path.is_file() and not path.is_symlink() and path.name != RESULTS:
            shutil.copyfile(path, dest / path.name)
    payload = {"fingerprint": fingerprint(folder), "report": report.to_json()}
    write_text(results_path(course, week, student), json.dumps(payload, indent=2) + "\n")


def autograde(
    course: Course,
    week: Week,
    students: list[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    device: str = "cpu",
    create_students: bool = False,
    timeout_cap: float | None = None,
    progress: bool = True,
) -> list[Outcome]:
    """Grade every collected submission of `week`; see the module docstring."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    known, recorded = gradebook.roster(course, week)  # fails early, with a clear message
    subs = submissions(course, week, students)
    todo, outcomes = _pending(course, week, subs, force, known, recorded, create_students)
    jobs = max(1, min(jobs or course.grading_jobs or os.cpu_count() or 1, len(todo) or 1))
    columns = [
        TextColumn("grading {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with (
        Progress(*columns, disable=not progress, transient=False) as bar,
        ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool,
    ):
        task = bar.add_task(week.name, total=len(subs), completed=len(outcomes))
        futures = {
            pool.submit(
                grade_submission,
                str(course.root),
                week.name,
                str(folder),
                device,
                timeout_cap,
            ): student
            for student, folder in todo.items()
        }
        try:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    student = futures[future]
                    outcomes.append(
                        _finish(
                            course,
                            week,
                            student,
                            todo[student],
                            future,
                            create_students,
                        )
                    )
                    bar.advance(task)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    order = {s: i for i, s in enumerate(subs)}
    return sorted(outcomes, key=lambda o: order.get(o.student, len(order)))


def _finish(course, week, student, folder, future, create_students) -> Outcome:
    try:
        report = GradeReport.from_json(future.result())
    except CourseError as exc:  # the grading suite itself could not run: nothing is recorded
        return Outcome(student, "error", 0.0, week.max_score, str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001  (a grading process died; it never runs student code itself)
        return Outcome(
            student,
            "error",
            0.0,
            week.max_score,
            f"grading failed: {type(exc).__name__}: {exc}",
        )
    _store(course, week, student, folder, report)
    _record(course, week, student, folder, report, create_students)
    failed = sum(1 for t in report.tests if t.status != "passed")
    return Outcome(
        student,
        "graded",
        report.score,
        report.max_score,
        f"{failed} check(s) failed" if failed else "",
    )


# ---------------------------------------------------------------- feedback


def feedback_text(report: GradeReport, week: Week, student: str) -> str:
    """Markdown feedback: every check with its points and, where it failed, the one-line reason.
    Only the check's name, its summary from course_config.py and the reason: never its code or inputs."""
    lines = [
        f"# {week.name}: {week.title}",
        "",
        f"Student: {student}  ",
        f"Score: **{report.score:g} / {report.max_score:g}**",
        "",
    ]
    lines += [f"> {note}" for note in report.notes] + ([""] if report.notes else [])
    lines += ["| check | points | result |", "|---|---|---|"]
    for t in report.tests:
        about = week.checks[t.name].about if t.name in week.checks else ""
        result = "passed" if t.status == "passed" else t.output.replace("|", "\\|")
        lines.append(f"| `{t.name}`: {about} | {t.score:g}/{t.max_score:g} | {result} |")
    return "\n".join(lines) + "\n"


def feedback_html(report: GradeReport, week: Week, student: str) -> str:
    rows = []
    for t in report.tests:
        about = week.checks[t.name].about if t.name in week.checks else ""
        ok = t.status == "passed"
        rows.append(
            f"<tr class={'pass' if ok else 'fail'}><td><code>{html.escape(t.name)}</code><br><small>"
            f"{html.escape(about)}</small></td><td>{t.score:g}/{t.max_score:g}</td>"
            f"<td>{'passed' if ok else html.escape(t.output)}</td></tr>"
        )
    notes = "".join(f"<p><em>{html.escape(n)}</em></p>" for n in report.notes)
    return (
        "<!DOCTYPE html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(week.name)} feedback: {html.escape(student)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td{padding:.3em .6em;"
        "border-bottom:1px solid #ddd;vertical-align:top}.pass td:nth-child(2){color:green}"
        ".fail td:nth-child(2){color:#b00}</style></head><body>"
        f"<h1>{html.escape(week.name)}: {html.escape(week.title)}</h1><p>Student: {html.escape(student)}</p>"
        f"<p><strong>Score: {report.score:g} / {report.max_score:g}</strong></p>{notes}"
        f"<table><tr><th>check</th><th>points</th><th>result</th></tr>{''.join(rows)}</table></body></html>\n"
    )


def feedback(course: Course, week: Week, students: list[str] | None = None) -> list[Path]:
    """feedback/STUDENT/WEEK/feedback.md and WEEK.html (the name nbgrader's release_feedback expects)."""
    written = []
    base = course.path("autograded")
    found = sorted(base.glob(f"*/{week.name}/{RESULTS}")) if base.is_dir() else []
    for path in found:
        student = path.parent.parent.name
        if students and student not in students:
            continue
        report = GradeReport.from_json(json.loads(path.read_text())["report"])
        dest = course.path("feedback", student, week.name)
        write_text(dest / "feedback.md", feedback_text(report, week, student))
        write_text(dest / f"{week.name}.html", feedback_html(report, week, student))
        written.append(dest)
    if not found:
        raise CourseError(f"no graded {week.name} submissions: run `course autograde {week.name}` first")
    return written

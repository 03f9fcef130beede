"""Scores in nbgrader's gradebook, one row per hidden check.

Every hidden check is an nbgrader task cell `check-NAME` of the week's
notebook (see notebook.py), so `nbgrader generate_assignment` puts a row for
it in the gradebook, and `nbgrader export` and the formgrader see its score.
`record` writes a student's scores for one week in one database transaction:
a run killed half-way leaves the student's previous grades or the new ones,
never a mixture.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass

from .config import Course, CourseError, Week, put_scripts_on_path
from .grading.runner import GradeReport
from .notebook import CHECK_PREFIX


class GradebookError(CourseError):
    pass


def open_gradebook(course: Course):
    from nbgrader.api import Gradebook

    put_scripts_on_path()
    db_url = course.nbgrader_config.CourseDirectory.db_url
    return Gradebook(db_url, course_id=course.course_id)


def _assignment(gb, week: Week):
    from nbgrader.api import MissingEntry

    try:
        assignment = gb.find_assignment(week.name)
    except MissingEntry:
        raise GradebookError(f"{week.name} is not in the gradebook: run `course release {week.name}` first") from None
    cells = {c.name: c for nb in assignment.notebooks for c in nb.task_cells if c.name.startswith(CHECK_PREFIX)}
    missing = [name for name in week.checks if CHECK_PREFIX + name not in cells]
    if missing:
        raise GradebookError(
            f"the gradebook's {week.name} lacks check(s) {', '.join(missing)}: "
            f"run `course build` and `course release {week.name}` again"
        )
    return assignment


def _grades(submission) -> dict:
    """grade name -> nbgrader Grade, for one submitted assignment."""
    return {g.name: g for nb in submission.notebooks for g in nb.grades}


def _complete(week: Week, submission) -> bool:
    """Whether every check of `week` has an automatic score in `submission`."""
    grades = _grades(submission)
    return all(
        CHECK_PREFIX + name in grades and grades[CHECK_PREFIX + name].auto_score is not None for name in week.checks
    )


def roster(course: Course, week: Week) -> tuple[set[str], set[str]]:
    """(the gradebook's students, those with every check of `week` recorded), in one read;
    raises GradebookError when `week` is not released with all its checks."""
    with open_gradebook(course) as gb:
        assignment = _assignment(gb, week)
        known = {s.id for s in gb.students}
        recorded = {sub.student.id for sub in assignment.submissions if _complete(week, sub)}
    return known, recorded


def released_weeks(course: Course) -> list[Week]:
    """The course's weeks that are in the gradebook, in course order."""
    with open_gradebook(course) as gb:
        released = {a.name for a in gb.assignments}
    return [w for name, w in course.weeks.items() if name in released]


def is_recorded(course: Course, week: Week, student: str) -> bool:
    """Whether every check of `week` has an automatic score for `student`."""
    return student in roster(course, week)[1]


def record(
    course: Course,
    week: Week,
    student: str,
    report: GradeReport,
    timestamp: str | None = None,
    create_student: bool = False,
) -> None:
    """Write `report` as `student`'s automatic scores for `week`, all or nothing."""
    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SAWarning

    with open_gradebook(course) as gb, warnings.catch_warnings():
        # nbgrader builds its rows before adding them to the session, which SQLAlchemy warns about.
        warnings.simplefilter("ignore", SAWarning)
        _assignment(gb, week)
        session = gb.db
        commit = session.commit
        # nbgrader's helpers commit after each row; hold those commits back so the student,
        # the submission and every score land in the one commit below.
        session.commit = session.flush
        try:
            try:
                gb.find_student(student)
            except MissingEntry:
                if not create_student:
                    raise GradebookError(
                        f"unknown student {student!r}: add them with `nbgrader db student add`"
                    ) from None
                gb.add_student(student)
            try:
                submission = gb.find_submission(week.name, student)
                if timestamp:
                    from nbgrader.utils import parse_utc

                    submission.timestamp = parse_utc(timestamp)
            except MissingEntry:
                submission = gb.add_submission(
                    week.name,
                    student,
                    **({"timestamp": timestamp} if timestamp else {}),
                )
            grades = _grades(submission)
            for result in report.tests:
                grade = grades[CHECK_PREFIX + result.name]
                grade.auto_score = float(result.score)
                grade.needs_manual_grade = False
            session.flush()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.commit = commit
        commit()


@dataclass
class Row:
    student: str
    week: str
    score: float
    max_score: float
    checks: dict[str, float | None]
    timestamp: str


def rows(course: Course, weeks: list[Week]) -> list[Row]:
    """Every student of the gradebook for each week (no submission: score 0, checks empty)."""
    from nbgrader.api import MissingEntry

    out = []
    with open_gradebook(course) as gb:
        students = sorted(s.id for s in gb.students)
        for week in weeks:
            _assignment(gb, week)
            for student in students:
                try:
                    submission = gb.find_submission(week.name, student)
                except MissingEntry:
                    out.append(
                        Row(
                            student,
                            week.name,
                            0.0,
                            week.max_score,
                            dict.fromkeys(week.checks),
                            "",
                        )
                    )
                    continue
                grades = _grades(submission)
                checks = {}
                for name in week.checks:
                    g = grades.get(CHECK_PREFIX + name)
                    checks[name] = None if g is None or (g.auto_score is None and g.manual_score is None) else g.score
                stamp = submission.timestamp.isoformat() if submission.timestamp else ""
                out.append(
                    Row(
                        student,
                        week.name,
                        float(submission.score),
                        float(submission.max_score),
                        checks,
                        stamp,
                    )
                )
    return out


def export_csv(table: list[Row]) -> str:
    names = [n for n in dict.fromkeys(n for r in table for n in r.checks)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student_id", "week", "timestamp", "score", "max_score", *names])
    for r in table:
        cells = ["" if r.checks.get(n) is None else f"{r.checks[n]:g}" for n in names]
        writer.writerow([r.student, r.week, r.timestamp, f"{r.score:g}", f"{r.max_score:g}", *cells])
    return out.getvalue()


def export_json(table: list[Row]) -> str:
    data = [
        {
            "student_id": r.student,
            "week": r.week,
            "timestamp": r.timestamp,
            "score": r.score,
            "max_score": r.max_score,
            "checks": r.checks,
        }
        for r in table
    ]
    return json.dumps(data, indent=2) + "\n"

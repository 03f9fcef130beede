"""The pytest plugin that turns a hidden grading suite into a grade.

Each test `test_<check>` in `graders/WEEK/` is one graded check of
course_config.py, with that check's points and time limit (pytest-timeout).
The plugin provides the fixtures the checks use (`student`, `ref`, `device`,
`forbid`) and records, for each check, the points earned and a one-line
reason when it failed: a check earns its points only when it passes.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..config import Course, Week
from . import hints, sandbox
from .checks import CheckFailed
from .client import StudentError, Submission
from .student import Student

TIMEOUT_PREFIX = "Timeout"
DEADLINE_MARGIN = 0.5  # the hard kill comes this much before pytest-timeout, so its reason wins
HINT_BUDGET = 120.0  # seconds per submission the grader may spend rerunning failed checks on classic bugs
HINT_CHECK_SECONDS = 30.0  # a failed check that took longer than this is not rerun for a hint


@dataclass
class CheckResult:
    name: str
    score: float
    max_score: float
    status: str  # "passed", "failed" or "error" (the grader itself broke)
    output: str = ""
    seconds: float = 0.0


@dataclass(eq=False)
class GraderPlugin:
    course: Course
    week: Week
    submission_dir: Path
    only: list[str] | None = None
    device: str = "cpu"
    timeout_cap: float | None = None  # shorten every check's time limit (for tests of the grader itself)
    results: dict[str, CheckResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self):
        sandbox.MEMORY_LIMIT = int(self.course.submission_memory_gib * 1024**3) or None
        sandbox.TASK_LIMIT = self.course.submission_tasks or None
        self.submission = Submission(
            self.submission_dir,
            self.week.files,
            total_timeout=self.course.submission_timeout,
            device=self.device,
            provided={f"{m}.py": self.course.path("solutions", self.week.name, f"{m}.py") for m in self.week.provided},
        )
        self._started: dict[str, float] = {}
        self.hints = hints.load_table(self.course, self.week)  # a hint table's problems never stop grading
        self._before: dict = {}  # the running check's arguments, as they were before it ran (for hints)
        self._hint_seconds = HINT_BUDGET  # the grader's time left for finding hints, this submission

    def pytest_sessionstart(self, session):
        # The submission's process imports torch while pytest collects the checks.
        try:
            self.submission.prestart()
        except StudentError:
            pass  # the first check starts it again, and reports why it could not start

    # --- fixtures ---
    @pytest.fixture(scope="session")
    def forbid(self):
        return {}

    @pytest.fixture(scope="session")
    def student(self, forbid):
        return Student(self.submission, forbid, self.device)

    @pytest.fixture(scope="session")
    def ref(self):
        return load_reference(self.course, self.week)

    @pytest.fixture(scope="session", name="device")
    def device_fixture(self):
        return self.device

    def timeout(self, check) -> float:
        return min(check.timeout, self.timeout_cap) if self.timeout_cap else check.timeout

    # --- collection: one test per check ---
    def check_of(self, item) -> str:
        return item.originalname.removeprefix("test_") if hasattr(item, "originalname") else item.name

    def pytest_collection_modifyitems(self, session, config, items):
        names = [self.check_of(item) for item in items]
        unknown = sorted(set(names) - set(self.week.checks))
        missing = sorted(set(self.week.checks) - set(names))
        repeated = sorted({n for n in names if names.count(n) > 1})
        if unknown:
            self.problems.append(f"tests with no check in course_config.py: {', '.join(unknown)}")
        if missing:
            self.problems.append(f"checks in course_config.py with no test: {', '.join(missing)}")
        if repeated:
            self.problems.append(f"checks with more than one test: {', '.join(repeated)}")
        if self.only:
            bad = sorted(set(self.only) - set(self.week.checks))
            if bad:
                self.problems.append(f"unknown check(s): {', '.join(bad)}")
            keep = [i for i in items if self.check_of(i) in self.only]
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep
        for item in items:
            check = self.week.checks.get(self.check_of(item))
            if check:
                # Only the check itself is timed: starting the submission's process is the grader's time.
                item.add_marker(pytest.mark.timeout(self.timeout(check), func_only=True))

    # --- running ---
    def pytest_runtest_setup(self, item):
        self._started[item.nodeid] = time.monotonic()  # reset when the check itself starts
        self.submission.check_deadline = float("inf")
        self.submission.ensure_started()

    def pytest_runtest_call(self, item):
        check = self.week.checks.get(self.check_of(item))
        timeout = self.timeout(check) if check else 30.0
        self._before = {}
        student = item.funcargs.get("student")
        if isinstance(student, Student):
            student.answers = []
            if self.hints.for_check(self.check_of(item)):
                self._before = hints.snapshot_args(item)
        self._started[item.nodeid] = time.monotonic()
        self.submission.check_deadline = time.monotonic() + timeout - DEADLINE_MARGIN

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        name = self.check_of(item)
        check = self.week.checks.get(name)
        if check is None or call.when == "teardown":
            return
        if call.when == "setup" and report.passed:
            return
        seconds = time.monotonic() - self._started.get(item.nodeid, time.monotonic())
        if report.passed:
            self.results[name] = CheckResult(name, check.points, check.points, "passed", "", seconds)
            return
        status, reason = "failed", explain(call.excinfo, self.timeout(check))
        if reason is None:
            status = "error"
            exc = call.excinfo.value
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            reason = f"the grader could not run this check ({call.excinfo.typename}: {first})"
        if status == "failed" and call.when == "call" and isinstance(call.excinfo.value, CheckFailed):
            reason = self._with_hint(reason, name, item, seconds)
        self.results[name] = CheckResult(name, 0.0, check.points, status, reason, seconds)

    def _with_hint(self, reason: str, name: str, item, seconds: float) -> str:
        """The reason, with the hint of the classic bug whose answers the submission's equal (hints.py)."""
        if not self._before or seconds > HINT_CHECK_SECONDS or self._hint_seconds <= 0:
            return reason
        started = time.monotonic()
        hint = hints.find_hint(self.course, self.week, self.hints, name, item, self._before, item.funcargs["student"])
        self._hint_seconds -= time.monotonic() - started
        return f"{reason}. Hint: {hint}" if hint else reason

    def pytest_sessionfinish(self, session):
        self.submission.close()


def explain(excinfo, timeout: float) -> str | None:
    """The one-line reason for a failed check; None when the grader itself broke."""
    if excinfo is None:
        return "failed"
    exc = excinfo.value
    if isinstance(exc, (CheckFailed, StudentError)):
        return str(exc) or "failed"
    if excinfo.typename == "Failed" and str(exc).startswith(TIMEOUT_PREFIX):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, AssertionError):
        return "failed"
    return None


def load_reference(course: Course, week: Week) -> types.SimpleNamespace:
    """The reference solution's modules, loaded under private names in the grader's process."""
    from ..train import load_modules

    return load_modules(course.path("solutions", week.name), week.all_modules, f"_reference_{week.name}")

"""Shared setup for the hidden grading suites.

`course grade WEEK --submission DIR` runs these tests with the grader plugin
(coursekit.grading.plugin), which supplies the `student`, `ref`, `week` and
`device` fixtures. To run a suite by hand while writing checks:

    pytest graders/week1 --submission solutions/week1
"""

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("course grading")
    group.addoption("--submission", help="folder with the submission's files (when run by hand)")
    group.addoption("--device", default="cpu", help="torch device for the checks (when run by hand)")


def pytest_configure(config):
    if config.pluginmanager.has_plugin("coursekit-grader") or any(
        type(p).__name__ == "GraderPlugin" for p in config.pluginmanager.get_plugins()
    ):
        return
    submission = config.getoption("submission")
    if not submission:
        raise pytest.UsageError("the hidden suite needs --submission DIR (or run it with `course grade`)")
    from coursekit.config import load_course
    from coursekit.grading.plugin import GraderPlugin

    here = Path(__file__).resolve().parent
    weeks = set()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path != here and here in path.parents:
            weeks.add(path.relative_to(here).parts[0])
    if len(weeks) != 1:
        raise pytest.UsageError("run one week's suite at a time, e.g. pytest graders/week1 --submission DIR")
    course = load_course(here.parent)
    week = course.week(weeks.pop())
    plugin = GraderPlugin(course, week, Path(submission).resolve(), device=config.getoption("device"))
    config.pluginmanager.register(plugin, "coursekit-grader")

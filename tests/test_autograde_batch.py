"""Batch grading keeps what it finished: gradebook writes are all-or-nothing, and a batch
killed half-way loses no grade already written and is finished by the next run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from coursekit import gradebook
from coursekit.config import load_course
from coursekit.grading.plugin import CheckResult
from coursekit.grading.runner import GradeReport

STUDENTS = ["s1", "s2"]


def add_students(root, env, names):
    for name in names:
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "db", "student", "add", name],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )


def submit(root, student, base="solutions"):
    folder = root / "submitted" / student / "week1"
    folder.mkdir(parents=True)
    for name in ("attention.py", "positional_encoding.py", "multi_head_attention.py"):
        shutil.copyfile(ROOT / base / "week1" / name, folder / name)
    (folder / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC")


def test_a_failed_write_leaves_no_half_written_grade(released_course):
    root, env = released_course
    add_students(root, env, ["s1"])
    course = load_course(root)
    week = course.week("week1")
    tests = [CheckResult(name, c.points, c.points, "passed", "") for name, c in week.checks.items()]
    broken = GradeReport(
        "week1",
        "x",
        [*tests[:5], CheckResult("no_such_check", 1, 1, "passed", ""), *tests[5:]],
    )
    with pytest.raises(KeyError):
        gradebook.record(course, week, "s1", broken)
    assert not gradebook.is_recorded(course, week, "s1")
    with gradebook.open_gradebook(course) as gb:
        assert gb.find_student("s1").submissions == [], "no submission row either"
    gradebook.record(
        course,
        week,
        "s1",
        GradeReport("week1", "x", tests),
        "2026-11-20 10:00:00.000000 UTC",
    )
    assert gradebook.is_recorded(course, week, "s1")
    assert gradebook.rows(course, [week])[0].score == week.max_score


def test_a_batch_killed_half_way_keeps_what_it_finished(released_course):
    root, env = released_course
    add_students(root, env, STUDENTS)
    for student in STUDENTS:
        submit(root, student)
    cmd = [
        sys.executable,
        "-m",
        "coursekit.cli",
        "autograde",
        "week1",
        "--jobs",
        "1",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = [root / "autograded" / s / "week1" / "results.json" for s in STUDENTS]
    deadline = time.monotonic() + 300
    while not any(p.exists() for p in results) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # as hard as it gets: no clean-up runs
    proc.wait()
    finished = [s for s, p in zip(STUDENTS, results) if p.exists()]
    assert 1 <= len(finished) < len(STUDENTS), "the kill should land mid-batch"

    course = load_course(root)
    week = course.week("week1")
    for student, path in zip(STUDENTS, results):
        if path.exists():
            assert json.loads(path.read_text())["report"]["score"] == week.max_score
    rows = {r.student: r for r in gradebook.rows(course, [week])}
    for student in STUDENTS:  # every grade in the gradebook is complete, or absent
        checks = list(rows[student].checks.values())
        assert all(v is None for v in checks) or all(v is not None for v in checks)

    again = subprocess.run(
        [*cmd[:-4], "--jobs", "2", "--device", "cpu"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("skipped") == len(finished)
    assert all(p.exists() for p in results)
    assert all(r.score == week.max_score for r in gradebook.rows(course, [week]))
    assert not list((root / "autograded").rglob(".*.tmp")), "no half-written results file"

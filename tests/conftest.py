"""Shared fixtures for the kit's own tests."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _week_names() -> list[str]:
    from coursekit.config import load_course

    return list(load_course(ROOT).weeks)


WEEKS = _week_names()  # every week of course_config.py, for tests parametrized over weeks


@pytest.fixture(scope="session")
def course():
    from coursekit.config import load_course

    return load_course(ROOT)


def make_submission(
    folder: Path, week: str = "week1", base: str = "solutions", overlay: dict | Path | None = None, drop=()
):
    """A submission folder: the `base` version of the week's modules, with files replaced by `overlay`."""
    from coursekit.config import load_course

    folder.mkdir(parents=True, exist_ok=True)
    for name in load_course(ROOT).week(week).files:
        if name not in drop:
            shutil.copyfile(ROOT / base / week / name, folder / name)
    if isinstance(overlay, Path):
        for path in overlay.glob("*.py"):
            shutil.copyfile(path, folder / path.name)
    elif overlay:
        for name, text in overlay.items():
            (folder / name).write_text(text)
    return folder


def classic_cases(week: str) -> tuple[dict, dict]:
    """The classic bugs and the correct variants in tests/submissions/WEEK/: two dicts of
    folder name -> the fields of its case.toml, plus "dir", the folder."""
    cases = {}
    for path in sorted((ROOT / "tests" / "submissions" / week).glob("*/case.toml")):
        cases[path.parent.name] = {**tomllib.loads(path.read_text()), "dir": path.parent}
    kinds = {kind: {n: c for n, c in cases.items() if c["kind"] == kind} for kind in ("bug", "correct")}
    return kinds["bug"], kinds["correct"]


def grade_many(jobs: list[dict], workdir: Path, processes: int = 2) -> list[dict]:
    """Grade each job ({"submission", "only", "timeout_cap"}) with the real grader, in
    `processes` separate grading processes; returns each job's report JSON in order."""
    chunks = [list(range(i, len(jobs), processes)) for i in range(processes)]

    def run(index, chunk):
        jobs_path, out_path = workdir / f"jobs{index}.json", workdir / f"results{index}.json"
        jobs_path.write_text(json.dumps([{"week": "week1", **jobs[i]} for i in chunk]))
        subprocess.run(
            [sys.executable, str(ROOT / "tests" / "grade_many.py"), str(jobs_path), str(out_path)],
            cwd=ROOT, check=True, env={**os.environ, "COURSE_ROOT": str(ROOT)},
        )  # fmt: skip
        return json.loads(out_path.read_text())

    results = [None] * len(jobs)
    with ThreadPoolExecutor(processes) as pool:
        for chunk, out in zip(chunks, pool.map(run, range(processes), chunks)):
            for i, r in zip(chunk, out):
                results[i] = r
    return results


def hint_misses(week: str, graded: dict) -> list[str]:
    """The bugs of graders/WEEK/hints.toml whose own hint is in no reason of theirs: each bug,
    graded in `graded` as "bug:NAME", must get its hint on at least one check it failed."""
    from coursekit.config import load_course
    from coursekit.grading.hints import load_table

    course = load_course(ROOT)
    table = load_table(course, course.week(week))
    misses = list(table.problems)
    for hint in table.hints:
        report = graded.get(f"bug:{hint.bug}")
        if report is None:
            misses.append(f"{hint.bug}: not graded")
            continue
        reasons = [t["output"] for t in report["tests"] if t["status"] == "failed" and t["name"] in hint.checks]
        if not any(r.endswith(f"Hint: {hint.text}") for r in reasons):
            misses.append(f"{hint.bug}: {reasons[:2]}")
    return misses


def scores(report: dict) -> dict:
    return {t["name"]: t for t in report["tests"]}


COURSE_FILES = ["course_config.py", "nbgrader_config.py", "data", "source", "solutions", "graders", "release"]


def make_course(folder: Path) -> dict:
    """A private copy of the course (config, sources, solutions, graders) in `folder`, with its own
    gradebook and exchange; returns the environment that points `course` and nbgrader at it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, folder / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(src, folder / name)
    return {**os.environ, "COURSE_ROOT": str(folder), "COURSE_EXCHANGE": str(folder / "exchange")}


@pytest.fixture(scope="session")
def released_template(tmp_path_factory):
    """A private course with week1 released by nbgrader (gradebook and exchange), made once."""
    folder = tmp_path_factory.mktemp("released") / "course"
    env = make_course(folder)
    subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "release", "week1"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    return folder


@pytest.fixture
def released_course(released_template, tmp_path):
    """A fresh copy of the released course: (folder, environment)."""
    folder = tmp_path / "course"
    shutil.copytree(released_template, folder)
    return folder, {**os.environ, "COURSE_ROOT": str(folder), "COURSE_EXCHANGE": str(folder / "exchange")}

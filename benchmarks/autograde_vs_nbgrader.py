"""`course autograde` against plain `nbgrader autograde`, on the same notebooks.

    .venv/bin/python benchmarks/autograde_vs_nbgrader.py [--n 12] [--jobs J] [--device cpu|cuda]
        [--skip-nbgrader] [--nbgrader-timeout S] [--json OUT] [--keep]

Makes a private copy of the course in a temporary folder, releases week1 there
(`course release week1`, so nbgrader's gradebook knows it), and puts N
synthetic week-1 notebooks straight into `submitted/sNN/week1/` (with a
`timestamp.txt`, each student added to the gradebook):

* correct: every solution cell holds the reference code of the source notebook;
* buggy: one classic bug from tests/submissions/week1 (the buggy module's
  definition put into the matching solution cell);
* hostile: an infinite loop in `causal_mask`, `sys.exit(0)` at the top of a
  solution cell, `os._exit(0)` at the top of a solution cell (kills a Jupyter
  kernel), and a notebook cut off half-way (invalid JSON).

Then, in this order and on the same submissions:

1. `course autograde week1 --jobs J` (coursekit.instructor.autograde, in this
   process): total wall time, submissions per minute, and from each
   results.json the check compute (sum of the checks' "seconds"), the whole
   submission's "wall_seconds" and the harness overhead between the two; also
   the batch's overhead, (total wall x jobs / N) - mean check compute.
2. `nbgrader autograde week1 --force --ExecutePreprocessor.timeout=30`, as a
   subprocess with an overall time limit: total wall time, submissions per
   minute and, from its log and the executed notebooks, each notebook's wall
   time, the execution time of its visible test cells, the overhead between
   the two, and what happened to it.

Both runs also report the CPU seconds per submission of all their processes
(less skewed than wall time when something else is using the machine).

The two do different work: nbgrader executes each notebook's visible test
cells in a Jupyter kernel; `course autograde` runs the hidden suite (18 checks,
two of them ~4 s training runs) on the notebook's definitions. The fair
comparison is the overhead per submission; raw throughput is context.
Everything happens in a temporary folder, removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WEEK = "week1"
COURSE_FILES = [
    "course_config.py",
    "nbgrader_config.py",
    "source",
    "solutions",
    "graders",
    "release",
]
TIMESTAMP = "2026-11-23 08:00:00.000000 UTC"
CASES = ROOT / "tests" / "submissions" / WEEK
# Classic bugs, one module each, used in turn for the "bug" slots of the mix.
BUG_CASES = [
    "sdpa_no_scaling",
    "mha_split_heads_without_transpose",
    "pe_sin_cos_swapped",
    "causal_mask_no_diagonal",
    "mha_no_out_proj",
    "sdpa_softmax_over_queries",
]
# The mix, repeated for N > 12: 4 correct, 4 buggy, 4 hostile in 12, with the
# hostile notebooks that hang or kill a kernel early so a small N has them.
PATTERN = [
    "correct",
    "bug",
    "infinite_loop",
    "os_exit",
    "bug",
    "sys_exit",
    "correct",
    "truncated",
    "bug",
    "correct",
    "bug",
    "correct",
]
ABOUT = {
    "correct": "reference code in every solution cell",
    "infinite_loop": "causal_mask never returns (while True)",
    "os_exit": "os._exit(0) at the top of the MultiHeadAttention cell",
    "sys_exit": "sys.exit(0) at the top of the scaled_dot_product_attention cell",
    "truncated": "notebook cut off half-way (invalid JSON)",
}
WEEK_MODULES = {"attention", "positional_encoding", "multi_head_attention"}


# ---------------------------------------------------------------- submissions


def plan(n: int) -> list[str]:
    kinds, bugs = [], 0
    for i in range(n):
        kind = PATTERN[i % len(PATTERN)]
        if kind == "bug":
            kind = "bug:" + BUG_CASES[bugs % len(BUG_CASES)]
            bugs += 1
        kinds.append(kind)
    return kinds


def describe(kind: str) -> str:
    if kind.startswith("bug:"):
        case = CASES / kind[4:] / "case.toml"
        match = re.search(r'^description\s*=\s*"(.*)"', case.read_text(), re.MULTILINE)
        return match.group(1) if match else kind[4:]
    return ABOUT[kind]


def defined_name(code: str) -> str | None:
    """The name of the first def/class of a solution cell (the release's stub parses)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return node.name
    return None


def solution_cells(nb) -> dict[str, str]:
    """cell id -> the name the solution cell defines."""
    cells = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            name = defined_name(cell.source)
            if name:
                cells[cell.id] = name
    return cells


def reference_code(source_nb, cell_id: str) -> str:
    """A solution cell of the source notebook with the solution markers removed."""
    cell = next(c for c in source_nb.cells if c.id == cell_id)
    return "\n".join(
        line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


def bug_definitions(case: str, names: set[str]) -> dict[str, str]:
    """name -> code for each definition of the case's module that a solution cell holds:
    the module's imports (not of the week's own modules, which a notebook has not got)
    and top-level helpers go with the first of them."""
    (path,) = sorted((CASES / case).glob("*.py"))
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    imports, helpers, found = [], [], {}
    for node in tree.body:
        first = node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno
        code = "\n".join(lines[first - 1 : node.end_lineno])
        if isinstance(node, ast.Import):
            if not any(a.name.split(".")[0] in WEEK_MODULES for a in node.names):
                imports.append(code)
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] not in WEEK_MODULES:
                imports.append(code)
        elif getattr(node, "name", None) in names:
            found[node.name] = code
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign)):
            helpers.append(code)
    if not found:
        raise SystemExit(f"{path} defines none of {sorted(names)}")
    first = next(iter(found))
    found[first] = "\n\n".join([x for x in ("\n".join(imports), *helpers, found[first]) if x])
    return found


HANG = '''def causal_mask(seq_len, device=None):
    """Hostile: never returns."""
    n = 0
    while True:
        n += 1
'''


def make_notebook(kind: str, release_nb, source_nb):
    """The release notebook with its solution cells filled for `kind`; None for "truncated"
    (written as the correct notebook's text cut in half)."""
    import copy

    nb = copy.deepcopy(release_nb)
    names = solution_cells(nb)
    for cell in nb.cells:
        if cell.id in names:
            cell.source = reference_code(source_nb, cell.id)
    by_name = {name: cell for cell in nb.cells if (name := names.get(cell.id))}
    if kind.startswith("bug:"):
        for name, code in bug_definitions(kind[4:], set(by_name)).items():
            by_name[name].source = code
    elif kind == "infinite_loop":
        by_name["causal_mask"].source = HANG
    elif kind == "sys_exit":
        cell = by_name["scaled_dot_product_attention"]
        cell.source = "import sys\n\nsys.exit(0)\n\n" + cell.source
    elif kind == "os_exit":
        cell = by_name["MultiHeadAttention"]
        cell.source = "import os\n\nos._exit(0)\n\n" + cell.source
    return nb


def write_submissions(course_root: Path, kinds: list[str]) -> dict[str, str]:
    """submitted/sNN/week1/week1.ipynb and timestamp.txt for each kind; student -> kind."""
    import nbformat

    release_nb = nbformat.read(course_root / "release" / WEEK / f"{WEEK}.ipynb", as_version=4)
    source_nb = nbformat.read(course_root / "source" / WEEK / f"{WEEK}.ipynb", as_version=4)
    width = max(2, len(str(len(kinds))))
    students = {}
    for i, kind in enumerate(kinds, 1):
        student = f"s{i:0{width}d}"
        folder = course_root / "submitted" / student / WEEK
        folder.mkdir(parents=True)
        nb = make_notebook(kind, release_nb, source_nb)
        text = nbformat.writes(nb)
        if kind == "truncated":
            text = text[: len(text) // 2]
        (folder / f"{WEEK}.ipynb").write_text(text)
        (folder / "timestamp.txt").write_text(TIMESTAMP)
        students[student] = kind
    return students


def count_visible_tests(course_root: Path) -> int:
    import nbformat

    nb = nbformat.read(course_root / "release" / WEEK / f"{WEEK}.ipynb", as_version=4)
    return sum(
        c.cell_type == "code"
        and c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test-")
        and "def test_" in c.source
        for c in nb.cells
    )


# ---------------------------------------------------------------- the course


def make_course(folder: Path) -> dict:
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in COURSE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, folder / name, ignore=ignore)
        else:
            shutil.copyfile(src, folder / name)
    return {"COURSE_ROOT": str(folder), "COURSE_EXCHANGE": str(folder / "exchange")}


def release(course_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "release", WEEK],
        cwd=course_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"`course release {WEEK}` failed:\n{proc.stdout}{proc.stderr}")


def add_students(course, students) -> None:
    from coursekit.gradebook import open_gradebook

    with open_gradebook(course) as gb:
        for student in students:
            gb.update_or_create_student(student)


# ---------------------------------------------------------------- our autograde


def stats(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "median": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "n": len(values),
    }


class CpuMeter:
    """CPU seconds (user + system) of this process and of every process it starts, sampled.

    getrusage(RUSAGE_CHILDREN) misses a process tree that is killed rather than
    waited for (the grader kills a sandboxed submission's process group), so the
    descendants are sampled every `interval` seconds instead; a process's last
    fraction of a sample before it exits is missed. None without psutil."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.seen: dict[tuple[int, float], float] = {}
        self.seconds: float | None = None

    def _sample(self, psutil) -> None:
        for proc in self.me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                key = (proc.pid, proc.create_time())
                t = proc.cpu_times()
                self.seen[key] = t.user + t.system

    def __enter__(self):
        try:
            import psutil
        except ImportError:
            return self
        self.me = psutil.Process()
        self._sample(psutil)
        self.before = dict(self.seen)
        own = self.me.cpu_times()
        self.own = own.user + own.system
        self.stop = threading.Event()

        def loop():
            while not self.stop.wait(self.interval):
                self._sample(psutil)

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if not hasattr(self, "stop"):
            return
        self.stop.set()
        self.thread.join()
        own = self.me.cpu_times()
        self.seconds = (own.user + own.system - self.own) + sum(
            t - self.before.get(key, 0.0) for key, t in self.seen.items()
        )


def run_ours(course, students: dict[str, str], jobs: int, device: str) -> dict:
    from coursekit.instructor import autograde, results_path

    week = course.week(WEEK)
    with CpuMeter() as cpu:
        start = time.perf_counter()
        outcomes = autograde(course, week, jobs=jobs, device=device, progress=False)
        wall = time.perf_counter() - start
    used_jobs = max(1, min(jobs, len(students)))
    per = {}
    for o in outcomes:
        row = {"status": o.status, "score": o.score, "max_score": o.max_score}
        path = results_path(course, week, o.student)
        if path.is_file():
            report = json.loads(path.read_text())["report"]
            tests = report["tests"]
            compute = sum(t["seconds"] for t in tests)
            sub_wall = report.get("wall_seconds") or 0.0
            failures = [f"{t['name']}: {t['output']}" for t in tests if t["status"] != "passed"]
            # A notebook rejected at intake never reaches a grading process: no wall time.
            graded = sub_wall > 0 or compute > 0
            row.update(
                checks=len(tests),
                checks_failed=len(failures),
                check_seconds=compute,
                wall_seconds=sub_wall if sub_wall > 0 else None,
                overhead_seconds=sub_wall - compute if sub_wall > 0 else None,
                graded=graded,
                timed_out=sum("timed out" in t["output"] for t in tests),
                note=(failures[0] if failures else "")
                if graded
                else "rejected at intake: " + (tests[0]["output"] if tests else ""),
            )
        else:
            row.update(graded=False, note=o.message)
        per[o.student] = row
    timed = [r for r in per.values() if r.get("wall_seconds")]
    walls = [r["wall_seconds"] for r in timed]
    overhead = [r["overhead_seconds"] for r in timed]
    compute = [r["check_seconds"] for r in per.values() if r.get("graded")]
    n = len(students)
    mean_compute_all = statistics.fmean([r.get("check_seconds", 0.0) for r in per.values()])
    return {
        "jobs": used_jobs,
        "total_wall_seconds": wall,
        "submissions_per_minute": 60 * n / wall,
        "cpu_seconds_per_submission": cpu.seconds / n if cpu.seconds else None,
        "graded_in_a_process": len(compute),
        "check_compute_seconds": stats(compute),
        "wall_seconds": stats(walls),
        "overhead_seconds": stats(overhead),
        "overhead_share": sum(overhead) / sum(walls) if walls else None,
        # The batch as a whole: process-seconds per submission beyond the checks
        # (pool start-up, imports, intake, gradebook writes, idle workers at the end).
        "batch_seconds_per_submission": wall * used_jobs / n,
        "batch_overhead_seconds": wall * used_jobs / n - mean_compute_all,
        "per_submission": per,
    }


# ---------------------------------------------------------------- nbgrader


def _kill_tree(pid: int) -> None:
    """Kill a process and every process it started (kernels run in their own sessions)."""
    try:
        import psutil

        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except Exception:  # noqa: BLE001  (psutil missing, or the process already gone)
        family = []
    for proc in family:
        with contextlib.suppress(Exception):
            proc.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _parse_time(text) -> float | None:
    from datetime import datetime

    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def inspect_notebook(path: Path) -> dict:
    """What nbgrader's executed notebook says: errors per cell, and the execution time of
    all its cells and of its visible test cells (nbclient's timing metadata)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return {"readable": False, "note": f"unreadable: {exc}"}
    errors, tests, failed_tests = [], 0, 0
    cell_seconds, test_seconds, timed = 0.0, 0.0, 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        is_test = gid.startswith("test-") and "def test_" in cell.source
        tests += is_test
        enames = [o.ename for o in cell.get("outputs", []) if o.output_type == "error"]
        if enames:
            errors.append(enames[0])
            failed_tests += is_test
        ex = cell.metadata.get("execution", {})
        begin = _parse_time(ex.get("iopub.execute_input"))
        end = _parse_time(ex.get("shell.execute_reply"))
        if begin is not None and end is not None:
            cell_seconds += max(0.0, end - begin)
            test_seconds += max(0.0, end - begin) if is_test else 0.0
            timed += 1
    return {
        "readable": True,
        "visible_tests": tests,
        "visible_tests_failed": failed_tests,
        "error_cells": len(errors),
        "errors": sorted(set(errors), key=errors.index),
        "cell_seconds": cell_seconds if timed else None,
        "test_seconds": test_seconds if timed else None,
    }


def run_nbgrader(course_root: Path, students: list[str], limit: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "nbgrader",
        "autograde",
        WEEK,
        "--force",
        "--ExecutePreprocessor.timeout=30",
    ]
    lines: list[tuple[float, str]] = []
    timed_out = False
    with CpuMeter() as cpu:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=course_root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )

        def read():
            for line in proc.stdout:
                lines.append((time.perf_counter(), line.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(proc.pid)
            proc.wait()
        except BaseException:
            _kill_tree(proc.pid)
            raise
        end = time.perf_counter()
    reader.join(timeout=5)
    (course_root / "nbgrader-autograde.log").write_text(
        "\n".join(f"{t - start:8.2f}  {line}" for t, line in lines) + "\n"
    )

    # A notebook's span: from the first log line naming its student to the next student's.
    first_seen: dict[str, float] = {}
    mention = re.compile(r"[/'](" + "|".join(map(re.escape, students)) + r")[/']")
    for t, line in lines:
        for student in mention.findall(line):
            first_seen.setdefault(student, t)
    order = sorted(first_seen, key=first_seen.get)
    spans = {}
    for i, student in enumerate(order):
        stop = first_seen[order[i + 1]] if i + 1 < len(order) else end
        spans[student] = stop - first_seen[student]
    failed = set()
    for _, line in lines:
        m = re.search(r"error processing assignment '[^']*' for student '([^']*)'", line)
        if m:
            failed.add(m.group(1))
    per = {}
    for student in students:
        path = course_root / "autograded" / student / WEEK / f"{WEEK}.ipynb"
        row = {"seconds": spans.get(student), "failed": student in failed}
        row["finished"] = student in first_seen and not (timed_out and student == order[-1])
        if student in first_seen and not row["finished"]:
            row["note"] = "in progress when nbgrader was killed at the time limit"
        elif path.is_file():
            row.update(inspect_notebook(path))
        elif student not in first_seen:
            row["note"] = "never reached (nbgrader stopped first)"
        else:
            row["note"] = "no autograded notebook" + (
                ": nbgrader failed it and removed it" if student in failed else ""
            )
        if row.get("test_seconds") is not None and row["seconds"] is not None:
            row["overhead_seconds"] = row["seconds"] - row["test_seconds"]
        per[student] = row
    wall = end - start
    finished = sum(r["finished"] for r in per.values())
    with_overhead = [r for r in per.values() if "overhead_seconds" in r]
    overhead = [r["overhead_seconds"] for r in with_overhead]
    return {
        "command": " ".join(["nbgrader", *cmd[3:]]),
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "time_limit_seconds": limit,
        "total_wall_seconds": wall,
        "finished": finished,
        # Of the notebooks it finished, when the time limit stopped it.
        "submissions_per_minute": 60 * finished / wall,
        "cpu_seconds_per_submission": cpu.seconds / finished if cpu.seconds and finished else None,
        "startup_seconds": (first_seen[order[0]] - start) if order else None,
        "notebook_seconds": stats([r["seconds"] for r in per.values() if r["seconds"] is not None]),
        "cell_seconds": stats([r["cell_seconds"] for r in per.values() if r.get("cell_seconds") is not None]),
        "test_seconds": stats([r["test_seconds"] for r in per.values() if r.get("test_seconds") is not None]),
        "overhead_seconds": stats(overhead),
        "overhead_share": sum(overhead) / sum(r["seconds"] for r in with_overhead) if overhead else None,
        "batch_overhead_seconds": (wall - sum(r.get("test_seconds") or 0.0 for r in per.values())) / max(finished, 1),
        "failed_students": sorted(failed),
        "log_tail": [line for _, line in lines[-12:]],
        "per_submission": per,
    }


# ---------------------------------------------------------------- report


def fmt(x, spec=".1f") -> str:
    return "-" if x is None else format(x, spec)


def pair(d: dict, spec=".1f") -> str:
    return f"{fmt(d['mean'], spec)} / {fmt(d['median'], spec)}"


def nbgrader_outcome(b: dict) -> str:
    if not b.get("readable"):
        return b.get("note", "")
    text = f"{b['visible_tests_failed']}/{b['visible_tests']} visible tests failed"
    if b["errors"]:
        text += f" ({', '.join(b['errors'][:3])})"
    return text + ("; nbgrader error" if b["failed"] else "")


def print_report(console, figures) -> None:
    from rich.table import Table

    ours, nbg, kinds = figures["ours"], figures.get("nbgrader"), figures["kinds"]
    n = len(kinds)
    table = Table(title=f"{n} week-1 notebooks, per submission (seconds)", title_justify="left")
    columns = [
        ("student", "left"),
        ("kind", "left"),
        ("score", "right"),
        ("checks", "right"),
        ("wall", "right"),
        ("overhead", "right"),
        ("course autograde: first failed check / note", "left"),
    ]
    if nbg:
        columns += [
            ("nbgrader", "right"),
            ("tests", "right"),
            ("overhead", "right"),
            ("nbgrader: outcome", "left"),
        ]
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")
    for student, kind in kinds.items():
        o = ours["per_submission"].get(student, {})
        row = [
            student,
            kind,
            f"{o.get('score', 0):g}/{o.get('max_score', 0):g}",
            fmt(o.get("check_seconds")),
            fmt(o.get("wall_seconds")),
            fmt(o.get("overhead_seconds"), ".2f"),
            (o.get("note") or "")[:60],
        ]
        if nbg:
            b = nbg["per_submission"][student]
            row += [
                fmt(b["seconds"]),
                fmt(b.get("test_seconds")),
                fmt(b.get("overhead_seconds"), ".2f"),
                nbgrader_outcome(b),
            ]
        table.add_row(*row)
    console.print(table)

    s = Table(title="Summary", title_justify="left")
    s.add_column("figure")
    s.add_column(f"course autograde --jobs {ours['jobs']}", justify="right")
    if nbg:
        s.add_column("nbgrader autograde (serial)", justify="right")

    def add(label, a, b="-"):
        s.add_row(label, a, *([b] if nbg else []))

    add(
        "total wall, s",
        fmt(ours["total_wall_seconds"]),
        nbg and fmt(nbg["total_wall_seconds"]) + (" (TIME LIMIT HIT, killed)" if nbg["timed_out"] else ""),
    )
    partial = nbg and nbg["finished"] < n and f" ({nbg['finished']} of {n} finished)"
    add(
        "submissions / minute",
        fmt(ours["submissions_per_minute"], ".2f"),
        nbg and fmt(nbg["submissions_per_minute"], ".2f") + (partial or ""),
    )
    add(
        "CPU s / submission (all processes)",
        fmt(ours["cpu_seconds_per_submission"]),
        nbg and fmt(nbg["cpu_seconds_per_submission"]),
    )
    add(
        "work / submission, mean / median s",
        pair(ours["check_compute_seconds"]) + " (hidden checks)",
        nbg and pair(nbg["test_seconds"]) + " (visible test cells)",
    )
    add(
        "wall / submission, mean / median s",
        pair(ours["wall_seconds"]),
        nbg and pair(nbg["notebook_seconds"]),
    )
    add(
        "OVERHEAD / submission, mean / median s",
        pair(ours["overhead_seconds"], ".2f") + f" (n={ours['overhead_seconds']['n']})",
        nbg and pair(nbg["overhead_seconds"], ".2f") + f" (n={nbg['overhead_seconds']['n']})",
    )
    add(
        "overhead share of per-submission wall",
        fmt(ours["overhead_share"] and 100 * ours["overhead_share"]) + " %",
        nbg and fmt(nbg["overhead_share"] and 100 * nbg["overhead_share"]) + " %",
    )
    add(
        "batch overhead / submission, s",
        fmt(ours["batch_overhead_seconds"], ".2f") + " (wall x jobs / N - mean checks)",
        nbg and fmt(nbg["batch_overhead_seconds"], ".2f") + " (wall / N - mean test cells)",
    )
    if nbg:
        add("start-up before the first notebook, s", "-", fmt(nbg["startup_seconds"]))
        add(
            "exit status",
            str(int(any(r["status"] == "error" for r in ours["per_submission"].values()))),
            str(nbg["returncode"]) + (" (killed at the time limit)" if nbg["timed_out"] else ""),
        )
    console.print(s)

    console.print(
        f"device for the checks: {figures['device']}; CPUs: {figures['cpu_count']}; load average "
        f"before {figures['loadavg_before']}, after {figures['loadavg_after']} "
        "(other processes on the machine skew wall times; CPU seconds are less affected)"
    )
    console.print(
        "[bold]Not the same work.[/] nbgrader executes each notebook top to bottom in a Jupyter "
        "kernel, i.e. only the notebook's visible test cells (small tensors, "
        f"{figures['visible_tests']} tests); `course autograde` runs the hidden suite "
        f"({figures['checks']} checks, incl. two ~4 s training checks) on the notebook's "
        "definitions, each submission in its own processes. The fair comparison is the overhead "
        "per submission; raw throughput is context."
    )
    console.print(
        "Overhead, ours: results.json wall_seconds - the checks' seconds (loading the course, "
        "intake, grader start-up, the submission's process starting and importing torch, its "
        "restart after a hang). The batch figure also counts the pool's start-up, gradebook "
        "writes and workers idle at the end. nbgrader: a notebook's span in its log (first line "
        "naming the student to the next student's) - its visible test cells' execution time "
        "(kernel start-up, importing torch, the definitions, copying, sanitizing, gradebook); a "
        "notebook nbgrader fails is left out of its per-submission overhead."
    )
    if ours["graded_in_a_process"] < n:
        console.print(
            f"{n - ours['graded_in_a_process']} submission(s) rejected at intake (never run, no "
            "wall time): not in our per-submission means, in the batch figure."
        )


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=12, help="submissions (default 12)")
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="submissions graded at once by course autograde (default: CPU count)",
    )
    p.add_argument("--device", help="torch device for the checks (default: cuda if present)")
    p.add_argument("--skip-nbgrader", action="store_true", help="time course autograde only")
    p.add_argument(
        "--nbgrader-timeout",
        type=float,
        metavar="S",
        help="overall limit for nbgrader autograde (default: 120 + 90 per submission)",
    )
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary course folder")
    args = p.parse_args(argv)
    if args.n < 1 or args.jobs < 1:
        p.error("--n and --jobs must be at least 1")
    if args.device is None:
        from coursekit.cli import default_device

        args.device = default_device()

    from rich.console import Console

    console = Console() if sys.stdout.isatty() else Console(width=200)
    tmp = Path(tempfile.mkdtemp(prefix="autograde-bench-"))
    course_root = tmp / "course"
    saved_env = {k: os.environ.get(k) for k in ("COURSE_ROOT", "COURSE_EXCHANGE")}
    try:
        os.environ.update(make_course(course_root))
        from coursekit.config import load_course

        t = time.perf_counter()
        release(course_root)
        course = load_course(course_root)
        kinds = write_submissions(course_root, plan(args.n))
        add_students(course, kinds)
        console.print(
            f"course copy in {course_root}: {WEEK} released, {len(kinds)} notebooks in "
            f"submitted/, students in the gradebook ({time.perf_counter() - t:.1f} s)"
        )
        for student, kind in kinds.items():
            console.print(f"  {student}  {kind:40s} {describe(kind)}")
        figures = {
            "n": args.n,
            "device": args.device,
            "cpu_count": os.cpu_count(),
            "checks": len(course.week(WEEK).checks),
            "visible_tests": count_visible_tests(course_root),
            "kinds": kinds,
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        }
        console.print(f"course autograde {WEEK} --jobs {args.jobs} --device {args.device} ...")
        figures["ours"] = run_ours(course, kinds, args.jobs, args.device)
        console.print(f"  done in {figures['ours']['total_wall_seconds']:.1f} s")
        if not args.skip_nbgrader:
            limit = args.nbgrader_timeout or 120 + 90 * args.n
            console.print(
                f"nbgrader autograde {WEEK} --force --ExecutePreprocessor.timeout=30 (overall limit {limit:.0f} s) ..."
            )
            nbg = figures["nbgrader"] = run_nbgrader(course_root, list(kinds), limit)
            console.print(
                f"  done in {nbg['total_wall_seconds']:.1f} s, exit {nbg['returncode']}"
                + (" [red]TIME LIMIT HIT: nbgrader killed[/]" if nbg["timed_out"] else "")
            )
        figures["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        print_report(console, figures)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
            console.print(f"figures written to {args.json}")
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

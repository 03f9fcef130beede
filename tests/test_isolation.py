"""Isolation of the submission's process, tried by hostile submissions.

The hostile submissions of tests/submissions/week1/hostile_* are graded by the
real grader (`course grade`'s code, in separate processes, as in
test_week1_grading.py), at the level this machine allows (bubblewrap) and at
the fallback (`COURSE_SANDBOX=unshare`); a few are also driven directly
through `Submission`, to look at the process from outside (its task count,
what is left after a kill) and from inside (its limits, uid, capabilities,
what it sees of the disk and the network). Controls run the same attacks with
no sandbox and show that they do succeed there, so a pass here means the
sandbox stopped them.
"""

import os
import socket
import threading
import time

import pytest
import tomllib
from conftest import ROOT, grade_many, make_submission, scores

from coursekit.config import load_course
from coursekit.grading import sandbox
from coursekit.grading.client import Submission, SubmissionTimeout

pytestmark = pytest.mark.xdist_group("test_isolation")  # one xdist worker runs the whole file

CASES_DIR = ROOT / "tests" / "submissions" / "week1"
FILES = load_course(ROOT).week("week1").files
QUICK = ["sdpa_shapes", "sdpa_matches_reference", "causal_mask", "pe_values", "mha_matches_reference"]  # fmt: skip
PE = ["pe_shape_dtype", "pe_values"]
STOLEN = ["sdpa_shapes", "sdpa_matches_reference", "causal_mask"]

LEVEL = sandbox.describe()
needs_bwrap = pytest.mark.skipif(
    not LEVEL.startswith("bubblewrap"),
    reason=f"bubblewrap (bwrap) is missing or cannot make namespaces here ({LEVEL}); "
    "install it (setup.sh does, as root) to hide course files from submissions",
)


def case(name: str) -> dict:
    folder = CASES_DIR / name
    return {**tomllib.loads((folder / "case.toml").read_text()), "dir": folder}


def hostile(folder, name: str, **replace) -> str:
    """A submission: the reference solution (or the submission already in `folder`) with the
    case's files laid over it, each `NAME = value` line of `replace` rewritten (the test's
    server port, the course root)."""
    spec = case(name)
    if folder.exists():
        for path in spec["dir"].glob("*.py"):
            (folder / path.name).write_text(path.read_text())
    else:
        make_submission(folder, overlay=spec["dir"])
    for extra in spec.get("extra_files", []):
        (folder / extra).write_text((spec["dir"] / f"{extra}.hostile").read_text())
    for var, value in replace.items():
        for path in spec["dir"].glob("*.py"):
            lines = (folder / path.name).read_text().splitlines(keepends=True)
            lines = [f"{var} = {value!r}\n" if line.startswith(f"{var} = ") else line for line in lines]
            (folder / path.name).write_text("".join(lines))
    return str(folder)


@pytest.fixture(scope="module")
def server():
    """A TCP server in the test's process on 127.0.0.1; nobody accepts, so connections queue."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def grade_all(tmp, jobs: dict, processes: int, env: dict | None = None) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        reports = grade_many(list(jobs.values()), tmp, processes=processes)
    return dict(zip(jobs, reports))


@pytest.fixture(scope="module")
def graded(tmp_path_factory, server):
    """Every hostile case graded by the real grader at the best level here (bubblewrap)."""
    if not LEVEL.startswith("bubblewrap"):
        pytest.skip(needs_bwrap.kwargs["reason"])
    tmp = tmp_path_factory.mktemp("isolation")
    port = server.getsockname()[1]
    jobs = {  # two grading processes: the even jobs in one, the odd in the other, each in order
        "fork_bomb": {"submission": hostile(tmp / "bomb", "hostile_fork_bomb"), "only": ["pe_values"], "timeout_cap": 4},
        "memory_hog": {"submission": hostile(tmp / "hog", "hostile_memory_hog"), "only": ["causal_mask", *PE]},
        "after_bomb": {"submission": str(ROOT / "solutions" / "week1"), "only": QUICK},
        "steals": {"submission": hostile(tmp / "steals", "hostile_steals_reference", GUESSES=[str(ROOT)]), "only": [*STOLEN, "pe_values"]},
        "network": {"submission": hostile(tmp / "network", "hostile_network", PORT=port), "only": ["causal_mask", "pe_values"]},
        "startup_files": {"submission": hostile(tmp / "startup", "hostile_startup_files"), "only": QUICK},
    }  # fmt: skip
    reports = grade_all(tmp, jobs, processes=2)
    return {"reports": reports, "jobs": jobs, "connections": connections(server)}


def assert_lost_only(report: dict, lost: list[str], words: list[str]) -> None:
    assert "error" not in report, report
    for check, t in scores(report).items():
        if check in lost:
            assert t["score"] == 0 and t["status"] == "failed", t
            assert "\n" not in t["output"] and all(w in t["output"] for w in words), t
        else:
            assert t["status"] == "passed", t


# --- what the level says it is ---
def test_describe_is_one_line():
    assert "\n" not in LEVEL and "memory" in LEVEL and "tasks" in LEVEL
    assert LEVEL.split(":")[0] in ("bubblewrap", "unshare", "no sandbox")


def test_without_bwrap_the_level_falls_back(monkeypatch):
    monkeypatch.setattr(sandbox, "BWRAP", "/nonexistent/bwrap")
    assert sandbox.describe().startswith(("unshare:", "no sandbox:"))
    monkeypatch.setenv(sandbox.MODE_ENV, "none")
    assert sandbox.describe().startswith("no sandbox: network open, course files readable")


# --- graded by the real grader, in bubblewrap ---
@needs_bwrap
def test_fork_bomb_loses_its_checks_and_the_next_submission_is_unharmed(graded):
    assert_lost_only(graded["reports"]["fork_bomb"], ["pe_values"], ["timed out"])
    # Graded after it, by the same grading process:
    report = graded["reports"]["after_bomb"]
    assert report["score"] == report["max_score"] > 0, report


@needs_bwrap
def test_memory_hog_loses_its_checks(graded):
    assert_lost_only(graded["reports"]["memory_hog"], PE, ["MemoryError"])


@needs_bwrap
def test_stolen_reference_earns_nothing(graded):
    # It finds nothing of the course: no reference, no graders, no gradebook, no config.
    assert_lost_only(
        graded["reports"]["steals"],
        STOLEN,
        ["no reference to steal; course files seen: none"],
    )


@needs_bwrap
def test_network_is_refused(graded):
    words = ["127.0.0.1: Connection refused", "192.0.2.1: Network is unreachable"]
    assert_lost_only(graded["reports"]["network"], ["pe_values"], words)
    assert graded["connections"] == 0


@needs_bwrap
def test_startup_files_in_the_submission_have_no_effect(graded):
    report = graded["reports"]["startup_files"]
    assert report["score"] == report["max_score"] > 0, report
    folder = graded["jobs"]["startup_files"]["submission"]
    assert not [n for n in os.listdir(folder) if n.endswith(".ran")]


# --- the same, at the fallback ---
@pytest.fixture(scope="module")
def graded_fallback(tmp_path_factory, server):
    if not sandbox.describe().startswith(("bubblewrap", "unshare")):
        pytest.skip("neither bubblewrap nor unshare can make namespaces here")
    tmp = tmp_path_factory.mktemp("isolation-fallback")
    port = server.getsockname()[1]
    jobs = {
        "memory_hog": {"submission": hostile(tmp / "hog", "hostile_memory_hog"), "only": ["causal_mask", *PE]},
        "network": {"submission": hostile(tmp / "network", "hostile_network", PORT=port), "only": ["causal_mask", "pe_values"]},
    }  # fmt: skip
    reports = grade_all(tmp, jobs, processes=1, env={sandbox.MODE_ENV: "unshare"})
    return {"reports": reports, "connections": connections(server)}


def test_fallback_keeps_limits_and_network_out(graded_fallback, monkeypatch):
    monkeypatch.setenv(sandbox.MODE_ENV, "unshare")
    assert sandbox.describe().startswith("unshare: no network")
    reports = graded_fallback["reports"]  # causal_mask passes in both: grading goes on
    assert_lost_only(reports["memory_hog"], PE, ["MemoryError"])
    # unshare leaves the new namespace's loopback down: 127.0.0.1 is unreachable too
    assert_lost_only(
        reports["network"],
        ["pe_values"],
        ["127.0.0.1: ", "192.0.2.1: Network is unreachable"],
    )
    assert graded_fallback["connections"] == 0


# --- driven through Submission, watched from outside and inside ---
# A submission that reports what its process is and sees (as plain data: a list).
INTROSPECT = """
import os, resource, socket
ROOT = {root!r}
def sinusoidal_positional_encoding(max_len, d_model, device=None):
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    limit = lambda r: resource.getrlimit(r)[0]
    course = ("course_config.py", "solutions", "graders", "gradebook.db", "release")
    return [
        os.getuid(), int(status["CapEff"], 16), int(status["NoNewPrivs"]),
        limit(resource.RLIMIT_AS), limit(resource.RLIMIT_NPROC),
        limit(resource.RLIMIT_FSIZE), limit(resource.RLIMIT_CORE),
        sorted(name for _, name in socket.if_nameindex()), sorted(os.listdir("/tmp")), os.getcwd(),
        [p for p in course if os.path.exists(os.path.join(ROOT, p))],
        os.path.exists(os.path.join(ROOT, "coursekit", "grading", "worker.py")),
        len(os.listdir("/proc/self/fd")),
    ]
"""
SEEN = "uid caps no_new_privs memory tasks file_size core networks tmp cwd course coursekit fds"


def call(sub: Submission, target: str, *args, seconds: float = 60):
    """The outputs of one call in the submission's process (start-up is not timed)."""
    sub.ensure_started()
    sub.check_deadline = time.monotonic() + seconds
    request = {"op": "run", "target": target, "args": list(args)}
    return sub.request(request, target.split(".")[-1])["outputs"]


def pe(sub: Submission, seconds: float = 60):
    target = "positional_encoding.sinusoidal_positional_encoding"
    return call(sub, target, 4, 8, seconds=seconds)


def causal_mask(sub: Submission):
    return call(sub, "attention.causal_mask", 3)


@needs_bwrap
def test_process_runs_with_limits_and_sees_little(tmp_path):
    overlay = {"positional_encoding.py": INTROSPECT.format(root=str(ROOT))}
    sub = Submission(make_submission(tmp_path / "s", overlay=overlay), FILES)
    try:
        seen = dict(zip(SEEN.split(), pe(sub)))
    finally:
        sub.close()
    assert seen["caps"] == 0 and seen["no_new_privs"] == 1  # none, and none to gain
    if os.geteuid() == 0:  # root is exempt from RLIMIT_NPROC: a uid of its own
        assert seen["uid"] == sub.sandbox.uid >= sandbox.SANDBOX_UID_BASE
        assert seen["tasks"] == sandbox.TASK_LIMIT
    assert seen["memory"] == sandbox.MEMORY_LIMIT and seen["core"] == 0
    assert seen["file_size"] == sandbox.FILE_LIMIT
    assert seen["networks"] == ["lo"]
    # A private /tmp holding its own folder only, and of the course only what it runs on.
    # (A checkout under /tmp, as in CI's clean clone, shows as the folder on the way to the
    # Python environment and coursekit bound back inside it; its other contents stay hidden.)
    on_the_way = [p.parts[0] for p in [ROOT.relative_to("/tmp")] if p.parts] if ROOT.is_relative_to("/tmp") else []
    assert sorted(seen["tmp"]) == sorted([sub.scratch.name, *on_the_way]) and seen["cwd"] == str(sub.scratch)
    assert seen["course"] == [] and seen["coursekit"]
    assert seen["fds"] <= 6  # 0-2, the two pipes, the listing's: none of the grader's


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def tasks(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                line = next(line for line in f if line.startswith("Threads:"))
            total += int(line.split()[1])
        except (OSError, StopIteration):
            pass
    return total


@pytest.mark.parametrize("mode", ["bubblewrap", "unshare"])
def test_fork_bomb_is_contained(tmp_path, monkeypatch, mode):
    monkeypatch.setenv(sandbox.MODE_ENV, mode)
    described = sandbox.describe()
    if not described.startswith(mode):
        pytest.skip(f"{mode} is not available here ({described})")
    if "tasks not limited" in described:
        pytest.skip(f"a fork bomb would not be limited here ({described})")
    sub = Submission(hostile(tmp_path / "bomb", "hostile_fork_bomb"), FILES)
    peak, seen = 0, set()
    try:
        sub.ensure_started()
        launcher = sub.proc.pid
        stop = threading.Event()

        def watch():
            nonlocal peak
            while not stop.is_set():
                pids = descendants(launcher)
                seen.update(pids)
                peak = max(peak, tasks(pids))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with pytest.raises(SubmissionTimeout):
                pe(sub, seconds=3)
        finally:
            stop.set()
            watcher.join()
        # It forked up to the limit, and no further (the wrapper's own few processes aside).
        assert sandbox.TASK_LIMIT // 2 < peak <= sandbox.TASK_LIMIT + 8, peak
        deadline = time.monotonic() + 10
        left = seen
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [p for p in seen if os.path.exists(f"/proc/{p}")]
        assert not left, "processes left after the kill"
        # The same submission's process starts afresh and answers (here: its other module).
        sub.check_deadline = time.monotonic() + 30
        assert causal_mask(sub).shape == (3, 3)
    finally:
        sub.close()


# --- controls: with no sandbox the same attacks work, so the tests above do test something ---
@needs_bwrap
def test_control_without_sandbox_the_attacks_succeed(tmp_path, monkeypatch, server):
    monkeypatch.setenv(sandbox.MODE_ENV, "none")
    folder = tmp_path / "both"
    hostile(folder, "hostile_network", PORT=server.getsockname()[1])
    hostile(folder, "hostile_steals_reference", GUESSES=[str(ROOT)])  # over the first
    connections(server)
    sub = Submission(folder, FILES)
    try:
        assert sub.describe().startswith("no sandbox")
        assert causal_mask(sub).shape == (3, 3)  # the stolen reference at work
        assert pe(sub).shape == (4, 8)  # it got through to the server
    finally:
        sub.close()
    assert connections(server) == 1

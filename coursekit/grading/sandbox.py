"""How the submission's process is kept apart from the grader, the course and the machine.

`Sandbox(scratch, device).wrap(cmd)` turns the worker's command line into one
that runs it isolated, at the best level this machine allows (probed once per
grader process by running Python through it):

- "bubblewrap" (`bwrap`): no network, its own process, IPC and hostname
  namespaces, `/` read-only, a private size-capped `/tmp`, and the course
  root, the nbgrader exchange, the grader's home and other scratch folders
  hidden under empty tmpfs; only the Python environment and the `coursekit`
  package are bound back (read-only), and the submission's scratch folder
  (read-write). Killing bwrap (its process group) kills everything inside.
- "unshare" (util-linux): no network and its own process namespace; the
  course files stay readable (install bubblewrap to hide them).
- "none": the process runs as it is; only the limits below apply.

At every level the process gets resource limits (`limits()`): the largest
file it may write, no core dumps, memory (address space on the CPU; data on
CUDA, whose address-space reservation an RLIMIT_AS would break) and a number
of tasks (processes and threads). The kernel never enforces RLIMIT_NPROC on
uid 0, capabilities or not, so a grader running as root runs each submission
as a uid of its own (`SANDBOX_UID_BASE` and up; it owns only the scratch
folder), which also keeps submissions graded at once from sharing a count.

`COURSE_SANDBOX=bubblewrap|unshare|none` caps the level (tests use it to
exercise the fallbacks). `describe()` is the one-line account of what is in
force, for reports.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import resource
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

# Bytes of memory for the submission's process (None: no limit). A worker that imports
# torch and trains Week 1's toy model peaks near 0.7 GiB of address space.
MEMORY_LIMIT: int | None = 6 * 1024**3
FILE_LIMIT = 64 * 1024**2  # the largest file the submission's process may write
# Tasks (processes and threads) the submission may add to those its uid already runs.
TASK_LIMIT: int | None = 256
TMP_SIZE = 256 * 1024**2  # the private /tmp (and /dev/shm) inside bubblewrap
SANDBOX_UID_BASE = 1 << 30  # a root grader runs each submission as a uid from here up
MODE_ENV = "COURSE_SANDBOX"  # caps the level: bubblewrap (default), unshare or none
LEVELS = ("bubblewrap", "unshare", "none")
PROBE_TIMEOUT = 60.0

BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
SH = shutil.which("sh") or "/bin/sh"

# Never hidden, even when a home or a course root holds them: the system the worker runs on.
SYSTEM = (
    "/usr",
    "/etc",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/dev",
    "/sys",
)

# Run as root inside the sandbox: drop to the submission's uid and no groups, enter its folder
# (root without CAP_DAC_OVERRIDE may not before the drop), then exec the worker.
_DROP = (
    "import os,sys;u=int(sys.argv[1]);os.setgroups([]);os.setresgid(u,u,u);"
    "os.setresuid(u,u,u);os.chdir(sys.argv[2]);os.execv(sys.argv[3],sys.argv[3:])"
)
_serial = itertools.count()


def _fresh_uid() -> int:
    return SANDBOX_UID_BASE + (os.getpid() % (1 << 22)) * 16 + next(_serial) % 16


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def tasks_of(uid: int) -> int:
    """The tasks (threads included) whose uid is `uid`: what RLIMIT_NPROC counts."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            with open(f"/proc/{name}/status", "rb") as f:
                status = f.read()
        except OSError:
            continue
        lines = status.split(b"\n")
        threads = [line.split()[1] for line in lines if line.startswith(b"Threads:")]
        total += int(threads[0]) if threads else 1
    return total


def course_paths() -> list[str]:
    """The course root(s) and nbgrader exchange(s) this grader process knows of."""
    from ..config import CONFIG_NAME, CourseError, find_root, load_course

    roots = []
    with contextlib.suppress(CourseError):  # no course here: only the checkout below
        roots.append(find_root())
    checkout = Path(__file__).resolve().parent.parent.parent  # an editable install's
    if (checkout / CONFIG_NAME).is_file():
        roots.append(checkout)
    paths = [str(r) for r in roots]
    for root in roots:
        # A course_config.py that does not load adds nothing here (grading reports it).
        with contextlib.suppress(Exception):
            paths.append(str(load_course(root).nbgrader_config["Exchange"]["root"]))
    if os.environ.get("COURSE_EXCHANGE"):
        paths.append(os.environ["COURSE_EXCHANGE"])
    return paths + ["/srv/nbgrader/exchange"]


def needed_paths() -> list[str]:
    """What the worker reads: the Python installation, its packages and coursekit itself."""
    paths = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    python = [sys.executable, os.path.realpath(sys.executable)]
    paths += [os.path.dirname(p) for p in python] + site.getsitepackages()
    paths.append(str(Path(__file__).resolve().parent.parent))  # coursekit: no solutions in it
    return paths


def _outermost(paths) -> list[str]:
    """Existing folders, resolved, less "/", the system and those inside another one."""
    real = {os.path.realpath(p) for p in paths if p and os.path.isdir(p)}
    real = {p for p in real if p != "/" and not any(_is_under(s, p) for s in SYSTEM)}
    kept: list[str] = []
    for p in sorted(real, key=len):
        if not any(_is_under(p, k) for k in kept):
            kept.append(p)
    return kept


class Sandbox:
    """The isolation of one submission's process, whose scratch folder is `scratch`."""

    def __init__(self, scratch: str | os.PathLike, device: str = "cpu", hide=()):
        self.scratch = os.path.realpath(scratch)
        self.device = str(device)
        self.cuda = self.device.startswith("cuda")
        self.hide = tuple(str(h) for h in hide)
        self.uid = _fresh_uid()
        self._variant: tuple[str, bool] | None = None

    # --- the level in force ---
    @property
    def variant(self) -> tuple[str, bool]:
        """(level, drop): the level, and whether the process runs as a uid of its own."""
        if self._variant is None:
            mode = os.environ.get(MODE_ENV, "").strip().lower() or LEVELS[0]
            self._variant = _choose(mode, self.cuda, os.geteuid() == 0, BWRAP, UNSHARE)
        return self._variant

    @property
    def level(self) -> str:
        return self.variant[0]

    def describe(self) -> str:
        level, drop = self.variant
        text = {
            "bubblewrap": "bubblewrap: no network, course files hidden, private /tmp",
            "unshare": "unshare: no network, own process namespace, course files readable",
            "none": "no sandbox: network open, course files readable",
        }[level]
        if MEMORY_LIMIT:
            text += f"; memory {MEMORY_LIMIT / 1024**3:g} GiB"
            text += " (data, for CUDA)" if self.cuda else ""
        if not TASK_LIMIT or not os.path.isdir("/proc"):
            text += "; tasks not limited"
        elif drop or os.geteuid() != 0:
            text += f"; {TASK_LIMIT} tasks" + (", own uid" if drop else "")
        else:
            text += "; tasks not limited (runs as root)"
        return text

    # --- launching ---
    def prepare(self) -> None:
        """Give the scratch folder to the submission's uid: it writes there, and nowhere else."""
        if self.variant[1]:
            names = ["", *os.listdir(self.scratch)]
            for path in (os.path.join(self.scratch, n) for n in names):
                os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def wrap(self, cmd: list[str]) -> list[str]:
        return _wrap(cmd, self.variant, self.uid, self.scratch, self.cuda, self.hide)

    def limits(self):
        """The preexec function that sets the resource limits in the child before exec."""
        uid = self.uid if self.variant[1] else os.getuid()
        return functools.partial(_set_limits, self.cuda, _task_limit(uid))

    def signal_of(self, code: int) -> int | None:
        """The signal that killed the worker, also from a wrapper's exit status 128 + N."""
        if code < 0:
            return -code
        if self.level != "none" and 128 < code < 128 + 65:
            return code - 128
        return None


def _task_limit(uid: int) -> int | None:
    """RLIMIT_NPROC for a process of `uid`: the tasks it runs now and TASK_LIMIT more."""
    if not TASK_LIMIT or not os.path.isdir("/proc"):  # no /proc: no count, no limit
        return None
    return tasks_of(uid) + TASK_LIMIT


def _set_limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:  # already lower for the grader: keep that
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _set_limits(cuda: bool, tasks: int | None) -> None:  # runs in the child before exec
    _set_limit(resource.RLIMIT_FSIZE, FILE_LIMIT)
    _set_limit(resource.RLIMIT_CORE, 0)
    if MEMORY_LIMIT:
        _set_limit(resource.RLIMIT_DATA if cuda else resource.RLIMIT_AS, MEMORY_LIMIT)
    if tasks:
        _set_limit(resource.RLIMIT_NPROC, tasks)


def _layout(extra_hide=()) -> tuple[list[str], list[str], list[str]]:
    """For bubblewrap: the folders hidden under an empty tmpfs, the folders in them bound
    back read-only for the worker, and the hidden folders in those, hidden again."""
    home = os.path.expanduser("~")
    candidates = ["/tmp", "/var/tmp", "/run", tempfile.gettempdir(), home]
    candidates += course_paths() + list(extra_hide)
    hidden = _outermost(candidates)
    wanted = {os.path.abspath(p) for p in needed_paths()}
    wanted |= {os.path.realpath(p) for p in wanted}
    needed: list[str] = []
    for q in sorted(wanted, key=len):
        inside = any(_is_under(q, h) for h in hidden)
        if inside and os.path.isdir(q) and not any(_is_under(q, n) for n in needed):
            needed.append(q)
    inner = {os.path.realpath(p) for p in candidates if p and os.path.isdir(p)}
    again = _outermost(p for p in inner if any(_is_under(p, n) and p != n for n in needed))
    return hidden, needed, again


def _wrap(cmd, variant, uid, scratch, cuda, hide=()) -> list[str]:
    level, drop = variant
    if drop:
        cmd = [sys.executable, "-I", "-S", "-c", _DROP, str(uid), scratch, *cmd]
    root = os.geteuid() == 0
    if level == "none":
        return cmd
    if level == "unshare":
        args = [UNSHARE, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
        args += ["--ipc", "--uts"] + ([] if root else ["--map-root-user"])
        # A shell as PID 1 of the namespace: Python there would ignore signals it sent itself.
        return [*args, "--", SH, "-c", '"$@"; exit $?', "sh", *cmd]
    hidden, needed, again = _layout(hide)
    private = ["--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs"]  # then the path
    dev = ["--dev-bind", "/dev", "/dev"] if cuda else ["--dev", "/dev"]  # CUDA: nvidia*
    args = [BWRAP, "--ro-bind", "/", "/", *dev, *private, "/dev/shm", "--proc", "/proc"]
    for path in hidden:
        args += [*private, path] if path == "/tmp" else ["--tmpfs", path]
    made: set[str] = set()

    def parents(path: str) -> list[str]:
        # bwrap makes missing folders on the way to a mount point 0700: closed to the uid.
        top = next((h for h in hidden if _is_under(path, h)), path)
        ups = [str(q) for q in Path(path).parents if _is_under(str(q), top) and str(q) != top]
        new = [q for q in reversed(ups) if q not in made]
        made.update(new)
        return [a for q in new for a in ("--perms", "0755", "--dir", q)]

    for path in needed:
        args += [*parents(path), "--ro-bind", path, path]
    for path in again:
        args += ["--tmpfs", path]
    args += [*parents(scratch), "--bind", scratch, scratch]
    for path in hidden + again:
        if path != "/tmp":
            args += ["--remount-ro", path]
    if not drop:
        args += ["--chdir", scratch]
    args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL"]
    if not root:
        args += ["--unshare-user", "--disable-userns"]
    elif drop:
        # Privileged bwrap binds what the submission's uid could not reach (a python under
        # /root); inside, it keeps only what the drop to that uid needs (no_new_privs is set).
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*args, "--", *cmd]


def _probe(variant, cuda: bool) -> bool:
    """Whether Python starts and imports coursekit through this variant."""
    scratch = tempfile.mkdtemp(prefix="course-sandbox-probe-")
    try:
        uid = _fresh_uid()
        if variant[1]:
            os.chown(scratch, uid, uid)
        code = "import coursekit, importlib.util as u; assert u.find_spec('torch'); open('p', 'w')"
        cmd = _wrap([sys.executable, "-I", "-c", code], variant, uid, scratch, cuda)
        tasks = _task_limit(uid)
        done = subprocess.run(
            cmd,
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=scratch,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch},
            start_new_session=True,
            preexec_fn=functools.partial(_set_limits, cuda, tasks),
            timeout=PROBE_TIMEOUT,
        )
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@functools.cache
def _choose(mode: str, cuda: bool, root: bool, bwrap: str, unshare: str) -> tuple[str, bool]:
    """The best (level, drop) that works here, at most `mode`."""
    levels = LEVELS[LEVELS.index(mode) :] if mode in LEVELS else LEVELS
    for level in levels:
        if level == "bubblewrap" and not os.access(bwrap, os.X_OK):
            continue
        if level == "unshare" and not os.access(unshare, os.X_OK):
            continue
        for drop in (True, False) if root else (False,):
            if (level, drop) == ("none", False) or _probe((level, drop), cuda):
                return level, drop
    return "none", False


def describe(device: str = "cpu") -> str:
    """One line on the isolation a submission graded now, on `device`, would get."""
    return Sandbox(tempfile.gettempdir(), device).describe()

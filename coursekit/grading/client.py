"""The grader's side of a submission: its scratch copy and the process running it.

`Submission` copies the expected files of a submission into a scratch folder
and runs them in a separate process (worker.py), started on first use and
started afresh after the student's code hangs, crashes or exits. The process
runs isolated, with resource limits, as sandbox.py describes. Every answer is
decoded as plain data (wire.py); errors in the student's code come back as
`StudentError` with a one-line reason.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import sandbox, wire

STARTUP_TIMEOUT = 120.0  # seconds for a fresh process to import torch and answer a ping
_SIGNALS = {int(s): s.name for s in signal.Signals}


class StudentError(Exception):
    """The submission failed in a way the student can fix; str() is the one-line reason."""


class SubmissionTimeout(StudentError):
    pass


class SubmissionDied(StudentError):
    pass


def describe_error(error: dict) -> str:
    kind = error.get("type", "Error")
    message, where = error.get("message", ""), error.get("where", "")
    at = f" ({where})" if where else ""
    if kind == "NotImplementedError":
        return message if message.startswith("TODO") else f"not implemented yet{at}"
    if kind in ("SyntaxError", "IndentationError", "TabError"):
        return f"syntax error in {where or 'the submission'}: {message}"
    if kind in ("ModuleNotFoundError", "ImportError"):
        return f"import failed: {message}{at}"
    if kind == "AttributeError" and "has no attribute" in message and not where:
        return f"missing name: {message}"
    return f"your code raised {kind}: {message}{at}"


class Submission:
    def __init__(
        self,
        directory: str | os.PathLike,
        files: list[str],
        total_timeout: float = 900,
        device: str = "cpu",
        hide: tuple = (),
        provided: dict | None = None,
    ):
        self.directory = Path(directory)
        self.scratch = Path(tempfile.mkdtemp(prefix="course-submission-"))
        self.present: set[str] = set()
        self._sources: dict[str, str] = {}
        for name in files:
            src = self.directory / name
            # Only regular files with the expected names: a conftest.py, sitecustomize.py or a
            # symlink to somewhere else stays behind.
            if src.is_file() and not src.is_symlink():
                shutil.copyfile(src, self.scratch / name)
                self.present.add(name)
                # Read now: the submission's process may replace its copy (a FIFO, a link).
                self._sources[name] = (self.scratch / name).read_text(errors="replace")
        # Finished modules the week builds on come from the course, whatever the submission holds.
        for name, path in (provided or {}).items():
            shutil.copyfile(path, self.scratch / name)
        # How the process is isolated (device: CUDA needs /dev/nvidia* and no address-space
        # limit; hide: folders to hide besides the course root, the exchange, /tmp, the home).
        self.sandbox = sandbox.Sandbox(self.scratch, device, hide)
        self.proc: subprocess.Popen | None = None
        self._ping_deadline: float | None = None  # a ping sent by prestart() and not yet answered
        self._to_worker = self._from_worker = -1
        self.check_deadline = float("inf")
        self.total_deadline = time.monotonic() + total_timeout

    # --- files ---
    def require(self, *files: str) -> None:
        missing = [f for f in files if f not in self.present]
        if missing:
            raise StudentError(f"{', '.join(missing)} missing from the submission")

    def source(self, name: str) -> str:
        return self._sources.get(name, "")

    def describe(self) -> str:
        """One line on the isolation of the submission's process (see sandbox.py)."""
        return self.sandbox.describe()

    # --- process ---
    def start(self) -> None:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.scratch),
            # The process may run as a uid with no passwd entry (sandbox.py); torch asks getpass
            # for a user name (its compile caches), and getpass reads these before the passwd file.
            "USER": "student",
            "LOGNAME": "student",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
        cmd = [sys.executable, "-I", "-m", "coursekit.grading.worker"]
        cmd += [str(req_r), str(resp_w), str(self.scratch)]
        try:
            self.sandbox.prepare()
            # What the submission prints goes nowhere: it can neither fill a disk nor reach
            # the grader. The preexec function only sets resource limits (no locks taken).
            self.proc = subprocess.Popen(
                self.sandbox.wrap(cmd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.scratch,
                env=env,
                pass_fds=(req_r, resp_w),
                start_new_session=True,
                preexec_fn=self.sandbox.limits(),  # noqa: PLW1509
            )
        except BaseException:
            for fd in (req_w, resp_r):
                os.close(fd)
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
        for fd in (req_w, resp_r):
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._to_worker, self._from_worker = req_w, resp_r

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None
        self._ping_deadline = None
        for fd in (self._to_worker, self._from_worker):
            if fd >= 0:
                os.close(fd)
        self._to_worker = self._from_worker = -1

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _death_reason(self, during: str) -> str:
        code = self.proc.wait() if self.proc else None
        if code is None:
            return f"the submission's process stopped answering during {during}"
        signum = self.sandbox.signal_of(code)
        if signum is not None:
            sig = _SIGNALS.get(signum, str(signum))
            return f"the submission's process was killed by {sig} during {during}"
        return f"the submission's process exited (status {code}) during {during}"

    def _deadline(self) -> float:
        return min(self.check_deadline, self.total_deadline)

    def _send(self, data: bytes, deadline: float, during: str) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SubmissionTimeout(f"timed out during {during}")
            _, ready, _ = select.select([], [self._to_worker], [], remaining)
            if ready:
                try:
                    view = view[os.write(self._to_worker, view) :]
                except BrokenPipeError:
                    raise SubmissionDied(self._death_reason(during)) from None

    def _read(self, n: int, deadline: float, during: str) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SubmissionTimeout(f"timed out during {during}")
            ready, _, _ = select.select([self._from_worker], [], [], remaining)
            if ready:
                chunk = os.read(self._from_worker, min(n - len(buf), 1 << 20))
                if not chunk:
                    raise SubmissionDied(self._death_reason(during))
                buf += chunk
        return bytes(buf)

    def _receive(self, deadline: float, during: str) -> bytes:
        size = int.from_bytes(self._read(8, deadline, during), "big")
        if size > wire.MAX_FRAME:
            raise wire.WireError(f"a frame of {size} bytes is over the limit")
        return self._read(size, deadline, during)

    def prestart(self) -> None:
        """Start the process now, so that it imports torch while the grader loads its checks;
        the first request then waits for its answer to the ping, still under the start-up limit."""
        if self.proc is None:
            self._restart(wait=False)

    def ensure_started(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._restart()
        elif self._ping_deadline is not None:
            deadline, self._ping_deadline = self._ping_deadline, None
            try:
                wire.decode(self._receive(deadline, "start-up"))
            except BaseException:
                self.kill()
                raise

    def _restart(self, wait: bool = True) -> None:
        """A fresh process, ready to serve: its start-up is the grader's time, not the check's."""
        self.kill()
        self.start()
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            self._send(wire.encode({"op": "ping"}), deadline, "start-up")
            if wait:
                wire.decode(self._receive(deadline, "start-up"))
            else:
                self._ping_deadline = deadline
        except BaseException:
            self.kill()
            raise

    def request(self, request: dict, during: str) -> dict:
        """Send one request and return the answer; raise StudentError with a reason on failure."""
        if time.monotonic() >= self.total_deadline:
            raise SubmissionTimeout("the submission's total time limit was reached")
        self.ensure_started()
        deadline = self._deadline()
        try:
            self._send(wire.encode(request), deadline, during)
            frame = self._receive(deadline, during)
            answer = wire.decode(frame)
        except wire.WireError as exc:
            self.kill()
            raise StudentError(f"the submission's process sent malformed data during {during} ({exc})") from None
        except BaseException:
            self.kill()  # a timeout (ours or pytest-timeout's), a death, or an interrupt: start afresh next time
            raise
        if not isinstance(answer, dict):
            self.kill()
            raise StudentError(f"the submission's process sent malformed data during {during}")
        if isinstance(answer.get("error"), dict):
            raise StudentError(describe_error(answer["error"]))
        return answer

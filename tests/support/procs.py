"""Helpers for tests that start real processes: ports, polling, /proc readings, a daemon runner.

Every child started here runs in its own session (so a whole process tree can be signalled), gets
SIGKILL if the test process dies (``PR_SET_PDEATHSIG``), and is killed at interpreter exit if a
test forgot it: no orphans even when a test fails half-way.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_LIVE: set[subprocess.Popen[bytes]] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (another process may still take it: use it at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy and return that (never None); TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what or predicate!r}")
        time.sleep(interval)


def port_open(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until host:port accepts TCP connections; TimeoutError otherwise."""
    wait_until(lambda: port_open(host, port), timeout, 0.05, f"{host}:{port} to accept connections")


def process_threads(pid: int) -> int:
    """Number of threads of a live process."""
    return len(os.listdir(f"/proc/{pid}/task"))


def process_fds(pid: int) -> dict[int, str]:
    """Open file descriptors of a live process, fd -> link target (``socket:[...]``, a path, ...)."""
    fds: dict[int, str] = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed while we looked
            fds[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return fds


def rss_bytes(pid: int) -> int:
    """Resident set size of a live process, in bytes."""
    with open(f"/proc/{pid}/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: only an async-signal-safe prctl call.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_LIBC = ctypes.CDLL(None, use_errno=True)


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child that cannot outlive the test run (see the module docstring)."""
    proc = subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl call, see _die_with_parent
    )
    _LIVE.add(proc)
    return proc


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its pid and group id stay reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child is still running (a stopped child counts), without reaping it."""
    return proc.returncode is None and not _exited(proc.pid)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0, sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` (and SIGCONT, so a stopped child can act on it); SIGKILL after ``timeout``.

    Whatever the child left in its process group is killed too. Returns the exit status
    (negative: killed by that signal).
    """
    if proc.returncode is None:
        if not _exited(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
                os.kill(proc.pid, signal.SIGCONT)
            deadline = time.monotonic() + timeout
            while not _exited(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        # Not reaped yet, so the group id cannot belong to anyone else: safe to kill the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _LIVE.discard(proc)
    return proc.returncode


@atexit.register
def _reap_all() -> None:
    for proc in list(_LIVE):
        terminate(proc, timeout=0, sig=signal.SIGKILL)
    _LIVE.clear()


class DaemonProcess:
    """Runs a long-lived command for a test; stderr (and stdout) go to files read back afterwards.

    ``env`` is laid over the current environment. On exit the process gets SIGTERM, then SIGKILL
    after ``stop_timeout`` seconds; ``returncode`` then holds how it ended, and the logs stay
    readable (``log_dir``, or a temporary directory removed at interpreter exit).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stop_timeout: float = 10.0,
        log_dir: str | Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self.stdout_path = Path()
        self.stderr_path = Path()

    def start(self) -> DaemonProcess:
        """Start the process (once)."""
        if self._proc is not None:
            raise RuntimeError("already started")
        if self._log_dir is None:
            # Logs must stay readable after the process ended: removed at interpreter exit.
            self._log_dir = Path(tempfile.mkdtemp(prefix="daemon-"))
            atexit.register(shutil.rmtree, self._log_dir, True)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self._log_dir / "stdout.log"
        self.stderr_path = self._log_dir / "stderr.log"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self._proc = spawn(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=err)
        return self

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        """The running child (RuntimeError before ``start``)."""
        if self._proc is None:
            raise RuntimeError("not started")
        return self._proc

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once it ended (negative: killed by that signal), else None."""
        return self.proc.poll()

    def running(self) -> bool:
        """Whether the process is still alive."""
        return alive(self.proc)

    def send_signal(self, sig: int) -> None:
        """Send a signal to the process (not its children)."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; TimeoutError otherwise."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"{self.argv[0]} still running after {timeout} s") from exc

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` (default ``stop_timeout``); returns the exit status."""
        return terminate(self.proc, self.stop_timeout if timeout is None else timeout)

    def stderr_text(self) -> str:
        """Everything written to stderr so far."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.is_file() else ""

    def stdout_text(self) -> str:
        """Everything written to stdout so far."""
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.is_file() else ""

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self.stop()


def run_printing(config: Path, until: str, out: Path, timeout: float = 60.0) -> list[str]:
    """``streamer run --config CONFIG --print`` until its output holds ``until`` (or it exits, or
    ``timeout``); then SIGTERM, which must end it with exit 0. Returns the printed lines."""
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer", "run", "--config", str(config), "--print"],
            stdout=sink, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while until not in out.read_text() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.read_text().splitlines()

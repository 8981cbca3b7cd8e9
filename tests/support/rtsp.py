"""Controls the test RTSP server (``rtsp_server.py``, run by Debian's python3) from the test process."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from tests.support.procs import alive, spawn, terminate

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")

# OpenCV's FFmpeg options for RTSP (set OPENCV_FFMPEG_CAPTURE_OPTIONS to this before opening):
# TCP, no long probing (first frame in ~0.1 s instead of ~1.2 s), and a 2 s socket timeout so a
# hung server fails a read() in about 2 s instead of 30 s.
FAST_RTSP_CAPTURE_OPTIONS = "rtsp_transport;tcp|analyzeduration;0|probesize;32|timeout;2000000"


class RtspServerError(RuntimeError):
    """The RTSP server did not come up."""


class RtspServer:
    """An RTSP server on 127.0.0.1 serving H.264 mp4 files in a loop, as a context manager.

    ``clips`` maps mount paths (``/cam0``) to files; a plain sequence mounts them at ``/cam0``,
    ``/cam1``, ... The port is picked by the server on first start and kept across ``restart()``.
    """

    def __init__(
        self,
        clips: Mapping[str, str | Path] | Sequence[str | Path],
        *,
        user: str | None = None,
        password: str | None = None,
        port: int = 0,
        ready_timeout: float = 10.0,
    ) -> None:
        if isinstance(clips, Mapping):
            self.mounts = {path: Path(clip) for path, clip in clips.items()}
        else:
            self.mounts = {f"/cam{i}": Path(clip) for i, clip in enumerate(clips)}
        if not self.mounts:
            raise ValueError("RtspServer needs at least one clip")
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        self.user = user
        self.password = password
        self.port = port
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        log_fd, log_name = tempfile.mkstemp(prefix="rtsp-server-", suffix=".log")
        os.close(log_fd)
        self.log_path = Path(log_name)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> RtspServer:
        """Start the server and wait until it serves (RtspServerError otherwise)."""
        if self.running():
            raise RuntimeError("RTSP server already running")
        # After a kill the port may linger briefly: retry the bind for a while.
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                self._start_once(deadline)
                return self
            except RtspServerError:
                if self.port == 0 or time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def _start_once(self, deadline: float) -> None:
        argv = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        if self.user is not None and self.password is not None:
            argv += ["--user", self.user, "--password", self.password]
        argv += [f"{path}={clip}" for path, clip in self.mounts.items()]
        with open(self.log_path, "ab") as log:
            self._proc = spawn(argv, stdout=subprocess.PIPE, stderr=log)
        port = self._read_ready(self._proc, deadline)
        if self.port == 0:
            self.port = port

    def _read_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> int:
        """Wait for the ``READY <port>`` line; the pipe is then left alone (nothing more is printed)."""
        if proc.stdout is None:
            raise RuntimeError("stdout is not a pipe")
        fd = proc.stdout.fileno()
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self._discard()
                    raise RtspServerError(f"RTSP server not ready in time\n{self.log_text()}")
                chunk = os.read(fd, 4096)
                if not chunk:  # exited before READY (bad clip path, port in use, ...)
                    self._discard()
                    raise RtspServerError(f"RTSP server exited before READY\n{self.log_text()}")
                buffer += chunk
        word, _, port = buffer.partition(b"\n")[0].decode().partition(" ")
        if word != "READY" or not port.isdigit():
            self._discard()
            raise RtspServerError(f"unexpected output from the RTSP server: {buffer!r}")
        return int(port)

    def _discard(self) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout=0, sig=signal.SIGKILL)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (SIGKILL after ``timeout``) and reap; a no-op if it is not running."""
        if self._proc is not None:
            terminate(self._proc, timeout)
            self._discard()

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing sessions, like a crashed camera."""
        self._discard()

    def restart(self) -> None:
        """Stop (if running) and start again on the same port, waiting until it serves."""
        self.stop()
        self.start()

    def hang(self) -> None:
        """SIGSTOP: sockets stay open but nothing is answered, like a stalled camera."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``hang()``."""
        self.proc.send_signal(signal.SIGCONT)

    def running(self) -> bool:
        """Whether the server process is alive (a hung one counts as alive)."""
        return self._proc is not None and alive(self._proc)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        """The server process (RuntimeError when not running)."""
        if self._proc is None:
            raise RuntimeError("RTSP server not running")
        return self._proc

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def close(self) -> None:
        """Stop and remove the log file."""
        self.stop()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- addresses and diagnostics -----------------------------------------------------------

    def url(self, path: str = "/cam0", *, credentials: bool = True) -> str:
        """``rtsp://[user:password@]127.0.0.1:PORT/path``; ``credentials=False`` leaves them out."""
        if not path.startswith("/"):
            path = "/" + path
        userinfo = ""
        if credentials and self.user is not None and self.password is not None:
            userinfo = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@"
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def log_text(self) -> str:
        """The server's stderr so far (GStreamer warnings, tracebacks)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

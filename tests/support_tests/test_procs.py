"""Process helpers: ports, polling, /proc readings, and DaemonProcess shutdown without orphans."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.support import procs
from tests.support.fixtures import DaemonFactory
from tests.support.procs import DaemonProcess

pytestmark = pytest.mark.integration

# A stand-in daemon: logs to stderr, serves a TCP port, drains on SIGTERM (exit 0) unless told to
# ignore it, and optionally leaves a grandchild behind.
FAKE_DAEMON = textwrap.dedent(
    """
    import os, signal, socket, subprocess, sys, time
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: (print("draining", file=sys.stderr), sys.exit(0)))
    if mode == "grandchild":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(f"grandchild {child.pid}", file=sys.stderr, flush=True)
    server = socket.create_server(("127.0.0.1", port))
    print(f"listening {port} secret={os.environ.get('FAKE_SECRET')}", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)
    """
)


def fake_daemon(port: int, mode: str = "normal") -> list[str]:
    return [sys.executable, "-c", FAKE_DAEMON, str(port), mode]


def test_daemon_drains_on_sigterm_and_keeps_logs(daemon_process: DaemonFactory, free_port: int) -> None:
    daemon = daemon_process(fake_daemon(free_port), env={"FAKE_SECRET": "hunter2"})
    procs.wait_for_port("127.0.0.1", free_port, timeout=10)
    assert daemon.running()
    assert procs.process_threads(daemon.pid) >= 1
    assert any(target.startswith("socket:") for target in procs.process_fds(daemon.pid).values())
    assert procs.rss_bytes(daemon.pid) > 1_000_000
    assert daemon.stop() == 0
    assert not daemon.running()
    assert f"listening {free_port} secret=hunter2" in daemon.stderr_text()
    assert "draining" in daemon.stderr_text()


def test_daemon_ignoring_sigterm_is_killed(free_port: int, tmp_path: Path) -> None:
    with DaemonProcess(fake_daemon(free_port, "ignore-term"), stop_timeout=0.5, log_dir=tmp_path) as daemon:
        procs.wait_for_port("127.0.0.1", free_port, timeout=10)
    assert daemon.returncode == -9
    assert "listening" in daemon.stderr_text()  # logs outlive the process


def test_stop_leaves_no_orphans(daemon_process: DaemonFactory, free_port: int) -> None:
    daemon = daemon_process(fake_daemon(free_port, "grandchild"))
    line = procs.wait_until(
        lambda: next((ln for ln in daemon.stderr_text().splitlines() if ln.startswith("grandchild")), None),
        timeout=10,
        what="the grandchild's pid",
    )
    assert line is not None
    grandchild = int(line.split()[1])
    assert os.path.exists(f"/proc/{grandchild}")
    daemon.stop()
    procs.wait_until(lambda: not _alive(grandchild), timeout=5, what="the grandchild to die")


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a dead grandchild lingers as a zombie until init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_wait_until_returns_value_or_times_out() -> None:
    values = iter([0, None, "", 42])
    assert procs.wait_until(lambda: next(values), timeout=2, interval=0.01) == 42
    with pytest.raises(TimeoutError, match="never"):
        procs.wait_until(lambda: False, timeout=0.1, interval=0.01, what="never")


def test_wait_for_port(free_port: int) -> None:
    with pytest.raises(TimeoutError):
        procs.wait_for_port("127.0.0.1", free_port, timeout=0.2)
    with socket.create_server(("127.0.0.1", free_port)):  # the backlog accepts without accept()
        procs.wait_for_port("127.0.0.1", free_port, timeout=2)


def test_process_readings_of_self() -> None:
    pid = os.getpid()
    with open(os.devnull) as handle:
        assert os.path.realpath(os.devnull) in procs.process_fds(pid).get(handle.fileno(), "")
    assert procs.rss_bytes(pid) > 10_000_000
    before = procs.process_threads(pid)
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        assert procs.process_threads(pid) == before + 1
    finally:
        release.set()
        worker.join()

"""sd_notify against a real AF_UNIX datagram socket, as systemd would receive it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer import systemd


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound SOCK_DGRAM socket with NOTIFY_SOCKET pointing at it."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: systemd.ready("2/2 streams up"), "READY=1\nSTATUS=2/2 streams up"),
        (lambda: systemd.ready(""), "READY=1"),
        (lambda: systemd.status("1/2 streams up, 24.5 frames/s"), "STATUS=1/2 streams up, 24.5 frames/s"),
        (lambda: systemd.status("two\nlines"), "STATUS=two lines"),
        (systemd.watchdog, "WATCHDOG=1"),
        (systemd.stopping, "STOPPING=1"),
        (lambda: systemd.notify("A=1", "B=2"), "A=1\nB=2"),
    ],
)
def test_sends_one_datagram(notify_socket: socket.socket, call: object, expected: str) -> None:
    assert callable(call)
    assert call() is True
    assert _recv(notify_socket) == expected


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"streamer-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.watchdog() is True
        assert _recv(sock) == "WATCHDOG=1"


def test_noop_without_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
    assert systemd.ready("x") is False
    assert systemd.watchdog() is False


def test_send_failure_returns_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nobody is bound there (systemd went away): the daemon must carry on, not crash.
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "missing"))
    assert systemd.stopping() is False


def test_unsupported_socket_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert systemd.ready("x") is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        (None, None, None),
        ("30000000", None, 30.0),
        ("500000", "SELF", 0.5),
        ("500000", "OTHER", None),
        ("500000", "garbage", None),
        ("0", None, None),
        ("not-a-number", None, None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    if usec is None:
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        value = {"SELF": str(os.getpid()), "OTHER": str(os.getpid() + 1)}.get(pid, pid)
        monkeypatch.setenv("WATCHDOG_PID", value)
    assert systemd.watchdog_interval() == expected

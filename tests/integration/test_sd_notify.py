"""sd_notify from the real daemon, without systemd: READY, STATUS, WATCHDOG and STOPPING.

The test plays systemd's part: it binds an AF_UNIX datagram socket, passes it in ``NOTIFY_SOCKET``
with a short ``WATCHDOG_USEC``, and reads what the daemon sends. The stalled-pipeline case uses the
daemon's test-only hook ``STREAMER_TEST_STALL_INFERENCE_AFTER`` (the inference loop stops beating
after that many seconds).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import free_port
from tests.support.silent import SilentCamera
from tests.systemd.daemon import daemon_argv, file_stream, sample_sum, scrape, write_config

pytestmark = pytest.mark.integration

WATCHDOG_S = 2.0  # the daemon pings every WATCHDOG_S / 2 while healthy
STALL_AFTER_S = 2.0  # [pipeline] stall_after_s: a loop quiet this long counts as stalled
START_TIMEOUT_S = 60.0  # model loading and warm-up on a 2-core CI machine


@dataclass(frozen=True)
class Notification:
    """One datagram: when it arrived (monotonic) and its assignments."""

    at: float
    fields: dict[str, str]


class NotifySocket:
    """The receiving end of sd_notify, as systemd would bind it."""

    def __init__(self, address: str) -> None:
        self.address = address  # what goes into NOTIFY_SOCKET ('@' = abstract namespace)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.received: list[Notification] = []

    def close(self) -> None:
        self.sock.close()

    def read(self, timeout: float) -> Notification | None:
        """The next datagram within ``timeout`` seconds, or None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode("utf-8").splitlines() if "=" in line)
        note = Notification(time.monotonic(), fields)
        self.received.append(note)
        return note

    def wait_for(self, key: str, timeout: float) -> Notification:
        """Read until a datagram carrying ``key`` arrives; TimeoutError if none does in time."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            note = self.read(left)
            if note is not None and key in note.fields:
                return note
        raise TimeoutError(f"no {key} within {timeout} s; got {[n.fields for n in self.received]}")

    def collect(self, seconds: float) -> list[Notification]:
        """Everything that arrives in the next ``seconds``."""
        deadline = time.monotonic() + seconds
        got: list[Notification] = []
        while (left := deadline - time.monotonic()) > 0:
            note = self.read(left)
            if note is not None:
                got.append(note)
        return got


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


def _env(notify: NotifySocket, **extra: str) -> dict[str, str]:
    env = {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000)), **extra}
    # The watchdog is meant for the daemon's own pid, which is not known before it starts.
    env.pop("WATCHDOG_PID", None)
    return env


def _config(tmp_path: Path, streams: list[dict[str, Any]]) -> tuple[Path, str]:
    metrics = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "streamer.toml",
        streams=streams,
        endpoint=f"tcp://127.0.0.1:{free_port()}",
        metrics_listen=metrics,
        pipeline={"stall_after_s": STALL_AFTER_S},
        capture={"open_timeout_s": 1.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": 0.5},
    )
    return cfg, metrics


def _watchdogs(notes: list[Notification]) -> list[float]:
    return [n.at for n in notes if n.fields.get("WATCHDOG") == "1"]


def test_ready_after_first_results_then_watchdog_while_healthy(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory, notify_socket: NotifySocket
) -> None:
    cfg, metrics = _config(tmp_path, [file_stream("cam-a", clips.h264), file_stream("cam-b", clips.h264)])
    daemon = daemon_process(daemon_argv(cfg), env=_env(notify_socket))

    ready = notify_socket.wait_for("READY", START_TIMEOUT_S)
    assert ready.fields["READY"] == "1"
    # READY means results are flowing: the publish counter is already above zero.
    assert sample_sum(scrape(metrics), "streamer_messages_published_total") > 0, daemon.stderr_text()
    assert "streams up" in ready.fields.get("STATUS", ""), ready.fields

    notes = notify_socket.collect(3 * WATCHDOG_S)
    pings = _watchdogs(notes)
    # Pinged at about WATCHDOG_S / 2: at least 4 in 3 intervals, never a gap near the timeout.
    assert len(pings) >= 4, [n.fields for n in notes]
    gaps = [b - a for a, b in zip([ready.at, *pings], pings, strict=False)]
    assert max(gaps) < WATCHDOG_S, gaps
    status = [n.fields["STATUS"] for n in notify_socket.received if "STATUS" in n.fields]
    assert any("frames/s" in s for s in status), status
    assert daemon.running()


def test_dead_camera_does_not_stop_the_watchdog(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory, notify_socket: NotifySocket
) -> None:
    # Nothing listens on that port: the stream keeps failing and backing off, the rest runs on.
    dead = {"name": "dead", "source": f"rtsp://127.0.0.1:{free_port()}/nothing"}
    cfg, _ = _config(tmp_path, [file_stream("cam-a", clips.h264), dead])
    daemon = daemon_process(daemon_argv(cfg), env=_env(notify_socket))

    notify_socket.wait_for("READY", START_TIMEOUT_S)
    notes = notify_socket.collect(2 * STALL_AFTER_S + 2 * WATCHDOG_S)
    pings = _watchdogs(notes)
    assert len(pings) >= 4, [n.fields for n in notes]
    assert time.monotonic() - pings[-1] < WATCHDOG_S
    assert daemon.running()


def test_silent_cameras_do_not_stop_the_watchdog(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory, notify_socket: NotifySocket
) -> None:
    """Six cameras that accept and never answer: each open costs open_timeout_s (1 s) and FFmpeg opens
    go one at a time, so a capture thread can wait 5 s for its turn, longer than stall_after_s. A
    thread waiting its turn is alive: the watchdog keeps being fed and the file stream plays on."""
    with contextlib.ExitStack() as stack:
        silent = [stack.enter_context(SilentCamera()) for _ in range(6)]
        streams = [file_stream("cam-a", clips.h264)]
        streams += [{"name": f"silent-{i}", "source": c.url()} for i, c in enumerate(silent)]
        cfg, metrics = _config(tmp_path, streams)
        daemon = daemon_process(daemon_argv(cfg), env=_env(notify_socket))

        ready = notify_socket.wait_for("READY", START_TIMEOUT_S)
        notes = notify_socket.collect(4 * STALL_AFTER_S + 2 * WATCHDOG_S)
        times = [ready.at, *_watchdogs(notes), time.monotonic()]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps) < WATCHDOG_S, (gaps, [n.fields for n in notes])
        assert all(c.connections >= 2 for c in silent), [c.connections for c in silent]  # they were retried
        assert sample_sum(scrape(metrics), "streamer_frames_processed_total") > 0
        assert daemon.running()


def test_watchdog_stops_when_inference_stalls(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory, notify_socket: NotifySocket
) -> None:
    cfg, _ = _config(tmp_path, [file_stream("cam-a", clips.h264)])
    stall_after = 5.0  # long enough that READY (first results) surely comes first
    daemon = daemon_process(
        daemon_argv(cfg), env=_env(notify_socket, STREAMER_TEST_STALL_INFERENCE_AFTER=str(stall_after))
    )

    notify_socket.wait_for("READY", START_TIMEOUT_S)
    # The stall hook counts from the inference loop's start, which precedes READY: within
    # stall_after + STALL_AFTER_S + one tick of READY the pings must have stopped for good.
    notes = notify_socket.collect(stall_after + STALL_AFTER_S + 3 * WATCHDOG_S)
    pings = _watchdogs(notify_socket.received)
    assert pings, "no WATCHDOG=1 at all before the stall"
    silent_for = time.monotonic() - pings[-1]
    assert silent_for >= 2 * WATCHDOG_S, f"still pinging {silent_for:.1f} s ago: {[n.fields for n in notes]}"
    # systemd would now kill it; here nobody does, so the process is still up (hung, not crashed).
    assert daemon.running(), daemon.stderr_text()


def test_stopping_on_sigterm(tmp_path: Path, clips: Clips, daemon_process: DaemonFactory) -> None:
    # The abstract namespace, as systemd itself hands out on many systems.
    notify = NotifySocket(f"@streamer-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        cfg, _ = _config(tmp_path, [file_stream("cam-a", clips.h264)])
        daemon = daemon_process(daemon_argv(cfg), env=_env(notify))
        notify.wait_for("READY", START_TIMEOUT_S)

        daemon.send_signal(signal.SIGTERM)
        stopping = notify.wait_for("STOPPING", 5.0)
        assert stopping.fields["STOPPING"] == "1"
        assert daemon.wait(10.0) == 0, daemon.stderr_text()
    finally:
        notify.close()

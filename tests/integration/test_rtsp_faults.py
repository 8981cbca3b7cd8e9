"""Camera faults against a real RTSP server: killed and restarted, hung (SIGSTOP) and resumed.

The daemon reads three streams: ``cam`` from the server the test abuses, ``steady`` from a second
RTSP server left alone, and ``file`` (a clip played at its own rate). Through every fault the
daemon must live, the other two streams keep their rate, ``cam`` comes back within the backoff cap
plus 2 s of its server returning, with one reconnect counted per outage, a new epoch and a fresh
sequence state, and the daemon's threads and file descriptors return to where they were.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.robust_rig import (
    Ports,
    Running,
    config_data,
    file_stream,
    report,
    start_daemon,
    tiny_models,
    value,
    write_config,
)
from tests.support.fixtures import DaemonFactory, RtspServerFactory
from tests.support.media import Clips
from tests.support.procs import process_fds, process_threads, wait_until
from tests.support.rtsp import RtspServer

pytestmark = pytest.mark.integration

BACKOFF_CAP_S = 1.0
CAPTURE = {"open_timeout_s": 2.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": BACKOFF_CAP_S}
OTHERS = ("steady", "file")
MIN_RATE_SHARE = 0.95


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_models(tmp_path_factory.mktemp("models"))


@dataclass
class Rig:
    victim: RtspServer
    steady: RtspServer
    daemon: Running

    def up(self, stream: str = "cam") -> float:
        return value(self.daemon.scrape(), "streamer_stream_up", stream=stream)

    def processed(self) -> tuple[float, dict[str, float]]:
        samples = self.daemon.scrape()
        return time.monotonic(), {s: value(samples, "streamer_frames_processed_total", stream=s) for s in OTHERS}


@pytest.fixture
def rig(
    tmp_path: Path,
    models: dict[str, Any],
    clips: Clips,
    rtsp_server: RtspServerFactory,
    daemon_process: DaemonFactory,
) -> Iterator[Rig]:
    victim = rtsp_server()
    steady = rtsp_server()
    ports = Ports()
    streams = [
        {"name": "cam", "source": victim.url()},
        {"name": "steady", "source": steady.url()},
        file_stream("file", clips.h264_long),
    ]
    path = write_config(tmp_path / "faults.toml", config_data(ports, models, streams, capture=CAPTURE))
    daemon = start_daemon(daemon_process, path, ports, wait_streams=("cam", "steady", "file"))
    yield Rig(victim, steady, daemon)
    daemon.sub.close()


def settle_baseline(rig: Rig) -> tuple[dict[str, float], list[str], int]:
    """Rates of the other streams, thread and fd counts once everything has run a few seconds."""
    time.sleep(2.0)
    t0, before = rig.processed()
    time.sleep(4.0)
    t1, after = rig.processed()
    rates = {s: (after[s] - before[s]) / (t1 - t0) for s in OTHERS}
    pid = rig.daemon.proc.pid
    return rates, thread_names(pid), len(process_fds(pid))


def wait_back(rig: Rig, since: float, timeout: float) -> float:
    """Seconds from ``since`` until the daemon announced ``cam`` up again (status message)."""
    msg = wait_until(lambda: rig.daemon.sub.state_changes("cam", "up", since), timeout, 0.02, "cam up after the fault")[
        0
    ]
    return msg.t_recv - since


def check_epochs_and_state(rig: Rig, outages: int) -> None:
    """One new epoch per outage; the first result of each starts the sequence state afresh."""
    results = [m.body for m in rig.daemon.sub.results("cam")]
    epochs = sorted({r["epoch"] for r in results})
    first = results[0]["epoch"]
    assert epochs == list(range(first, first + outages + 1)), f"epochs seen: {epochs}"
    for prev, cur in itertools.pairwise(results):
        if cur["epoch"] != prev["epoch"]:
            assert cur["epoch"] == prev["epoch"] + 1
            assert cur["sequence"]["steps"] == 1, f"state carried over the reconnect: {cur}"
        else:
            assert cur["seq"] > prev["seq"]
            assert cur["sequence"]["steps"] <= prev["sequence"]["steps"] + (cur["seq"] - prev["seq"])


def thread_names(pid: int) -> list[str]:
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            names.append(Path(f"/proc/{pid}/task/{task}/comm").read_text().strip())
    return sorted(names)


def check_resources(rig: Rig, threads0: list[str], fds0: int) -> tuple[int, int]:
    """Wait for the thread and fd counts to come back to the baseline (or below: a /metrics request
    being answered adds a thread and a socket for a moment); return them."""
    pid = rig.daemon.proc.pid
    try:
        wait_until(lambda: process_threads(pid) <= len(threads0), 10, 0.1, "threads")
    except TimeoutError:
        raise AssertionError(f"threads {threads0} -> {thread_names(pid)}") from None
    try:
        wait_until(lambda: len(process_fds(pid)) <= fds0, 10, 0.1, "fds")
    except TimeoutError:
        raise AssertionError(f"{fds0} fds -> {sorted(process_fds(pid).values())}") from None
    return len(thread_names(pid)), len(process_fds(pid))


@dataclass(frozen=True)
class Faults:
    """What a fault loop measured, for the checks every fault test shares."""

    base_rates: dict[str, float]
    threads0: list[str]
    fds0: int
    t_start: float
    start_counts: dict[str, float]
    reconnect_s: list[float]
    detect_s: list[float]


def drops(samples: dict[Any, float], stream: str) -> dict[str, float]:
    """Frames of ``stream`` dropped so far, by reason."""
    return {
        dict(labels)["reason"]: v
        for (name, labels), v in samples.items()
        if name == "streamer_frames_dropped_total" and dict(labels).get("stream") == stream and v
    }


def check_after_faults(rig: Rig, label: str, f: Faults) -> None:
    """The other streams kept their rate, reconnects and stream_up are exact, resources are back,
    and each outage started a new epoch with fresh sequence state."""
    outages = len(f.reconnect_s)
    t_end, end_counts = rig.processed()
    rates = {s: (end_counts[s] - f.start_counts[s]) / (t_end - f.t_start) for s in OTHERS}
    share = {s: rates[s] / f.base_rates[s] for s in OTHERS}

    assert rig.daemon.alive()
    samples = rig.daemon.scrape()
    threads, fds = check_resources(rig, f.threads0, f.fds0)
    report(
        label,
        reconnect_max_s=max(f.reconnect_s),
        reconnect_mean_s=sum(f.reconnect_s) / outages,
        detect_max_s=max(f.detect_s),
        baseline_fps={s: round(v, 2) for s, v in f.base_rates.items()},
        fault_fps={s: round(v, 2) for s, v in rates.items()},
        share={s: round(v, 3) for s, v in share.items()},
        threads=f"{len(f.threads0)}->{threads}",
        fds=f"{f.fds0}->{fds}",
        drops={s: drops(samples, s) for s in OTHERS},
        captured={s: value(samples, "streamer_frames_captured_total", stream=s) for s in OTHERS},
    )
    assert max(f.reconnect_s) <= BACKOFF_CAP_S + 2.0, f.reconnect_s
    assert all(v >= MIN_RATE_SHARE for v in share.values()), share
    assert value(samples, "streamer_stream_reconnects_total", stream="cam") == outages
    assert value(samples, "streamer_stream_up", stream="cam") == 1
    for s in OTHERS:
        assert value(samples, "streamer_stream_reconnects_total", stream=s) == 0
        assert value(samples, "streamer_stream_up", stream=s) == 1
    check_epochs_and_state(rig, outages)


def test_server_killed_and_restarted_ten_times(rig: Rig) -> None:
    base_rates, threads0, fds0 = settle_baseline(rig)
    t_start, start_counts = rig.processed()
    reconnect_s: list[float] = []
    detect_s: list[float] = []
    for _ in range(10):
        t_kill = time.monotonic()
        rig.victim.kill()
        wait_until(lambda: rig.up() == 0, 5, 0.05, "stream_up 0 after the kill")
        detect_s.append(time.monotonic() - t_kill)
        time.sleep(max(0.0, t_kill + 1.5 - time.monotonic()))  # the camera stays away 1.5 s
        rig.victim.start()
        t_back = time.monotonic()
        reconnect_s.append(wait_back(rig, t_back, BACKOFF_CAP_S + 5))
        wait_until(lambda: rig.up() == 1, 5, 0.05, "stream_up 1 after the restart")
        time.sleep(1.0)  # frames flow a while before the next fault
    check_after_faults(
        rig, "rtsp kill/restart x10", Faults(base_rates, threads0, fds0, t_start, start_counts, reconnect_s, detect_s)
    )


def test_server_hung_three_times(rig: Rig) -> None:
    base_rates, threads0, fds0 = settle_baseline(rig)
    t_start, start_counts = rig.processed()
    reconnect_s: list[float] = []
    detect_s: list[float] = []
    for _ in range(3):
        t_hang = time.monotonic()
        rig.victim.hang()
        # A read blocked on a silent server gives up after read_timeout_s.
        wait_until(lambda: rig.up() == 0, CAPTURE["read_timeout_s"] + 3, 0.05, "stream_up 0 after the hang")
        detect_s.append(time.monotonic() - t_hang)
        time.sleep(max(0.0, t_hang + 4.0 - time.monotonic()))  # hung for 4 s: several failed opens
        rig.victim.resume()
        t_back = time.monotonic()
        reconnect_s.append(wait_back(rig, t_back, BACKOFF_CAP_S + 2 + CAPTURE["open_timeout_s"] + 3))
        wait_until(lambda: rig.up() == 1, 5, 0.05, "stream_up 1 after the resume")
        time.sleep(1.0)
    assert max(detect_s) <= CAPTURE["read_timeout_s"] + 2.0, detect_s
    check_after_faults(
        rig, "rtsp hang/resume x3", Faults(base_rates, threads0, fds0, t_start, start_counts, reconnect_s, detect_s)
    )

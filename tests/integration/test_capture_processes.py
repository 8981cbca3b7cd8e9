"""Capture in worker processes (``[capture] workers``): frames over shared memory, nothing lost
offline, a killed capture process restarted with its streams while the others run on, a clean
exit that leaves no process and no shared-memory segment behind."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.robust_rig import (
    Ports,
    config_data,
    file_stream,
    report,
    start_daemon,
    tiny_models,
    write_config,
)
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import wait_until

pytestmark = pytest.mark.integration

MAX_GAP_S = 0.5  # a stream that keeps running shows no longer gap between two results (25 fps: 0.04 s)


def capture_processes(pid: int) -> list[int]:
    """The daemon's capture processes (spawned children, not the resource tracker)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                out.append(int(child))
    return sorted(out)


def segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").iterdir() if p.name.startswith("psm_")}


def max_gap(times: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def test_capture_processes_deliver_everything_survive_a_kill_and_exit_clean(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory
) -> None:
    shm_before = segments()
    ports = Ports()
    streams = [
        file_stream("live0", clips.h264),
        file_stream("live1", clips.h264),
        {"name": "offline", "source": str(clips.h264_long), "realtime": False, "loop": False},
    ]
    data = config_data(ports, tiny_models(tmp_path / "m"), streams, capture={"workers": 2})
    running = start_daemon(
        daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=["live0", "live1"]
    )
    try:
        pid = running.proc.pid

        def both_processes() -> list[int]:
            found = capture_processes(pid)
            return found if len(found) == 2 else []

        procs = wait_until(both_processes, 10, 0.1, "2 processes")
        # The offline file: every frame, in order, then the stream stops.
        wait_until(lambda: running.sub.state_changes("offline", "stopped"), 20, 0.1, "offline stream to end")
        seqs = [m.body["seq"] for m in running.sub.results("offline")]
        assert seqs == list(range(Clips.H264_LONG_FRAMES)), f"offline frames lost or out of order: {len(seqs)}"

        # Which process holds which stream: kill the one that captures live0.
        time.sleep(1.0)
        t_kill = time.monotonic()
        victim = procs[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: running.metric("streamer_capture_process_restarts_total") == 1, 10, 0.1, "restart counted")
        wait_until(lambda: len(capture_processes(running.proc.pid)) == 2, 10, 0.1, "capture process restarted")
        assert victim not in capture_processes(running.proc.pid)
        # Both live streams deliver again; at most one of them (the victim's) shows a gap.
        time.sleep(3.0)
        gaps = {}
        for name in ("live0", "live1"):
            after = running.sub.results(name, since=t_kill - 1.0)
            assert running.sub.results(name, since=time.monotonic() - 1.0), f"{name} stopped after the kill"
            gaps[name] = max_gap([m.t_recv for m in after])
        assert min(gaps.values()) < MAX_GAP_S, f"both streams stalled: {gaps}"
        resumed = [n for n, g in gaps.items() if g >= MAX_GAP_S]
        for name in resumed:  # the killed process's stream goes on in a new epoch
            epochs = {m.body["epoch"] for m in running.sub.results(name)}
            assert len(epochs) >= 2, f"{name} resumed without a new epoch"
        report("capture process killed", gaps=str({k: round(v, 3) for k, v in gaps.items()}))
        logs = running.logs()
        assert "capture process" in logs and "restarting it" in logs
        procs = capture_processes(running.proc.pid)
    finally:
        running.sub.close()
        rc = running.proc.stop()
    assert rc == 0, running.logs()[-2000:]
    assert not [p for p in procs if Path(f"/proc/{p}").exists()], "capture processes outlived the daemon"
    assert segments() <= shm_before, f"shared memory left behind: {segments() - shm_before}"

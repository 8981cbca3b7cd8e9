"""Hostile peers on the ZeroMQ port: a raw TCP peer completes the ZMTP handshake as a SUB and
declares a 2 GiB frame. The daemon closes it at the frame header instead of buffering what it
sends (RSS flat), and results keep flowing to a well-behaved subscriber meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.hostile.zmtp import RawSub
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
from tests.support.procs import rss_bytes

pytestmark = pytest.mark.integration

PEERS = 4
SEND_EACH = 64 << 20  # what each peer tries to send of its declared frame


def test_huge_declared_frames_are_cut_at_the_header(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory
) -> None:
    ports = Ports()
    path = write_config(
        tmp_path / "c.toml", config_data(ports, tiny_models(tmp_path / "models"), [file_stream("a", clips.h264_long)])
    )
    running = start_daemon(daemon_process, path, ports, wait_streams=("a",))
    try:
        time.sleep(1.0)
        rss0 = rss_bytes(running.proc.pid)
        t0 = time.monotonic()
        sent, cut = [], []
        for _ in range(PEERS):
            peer = RawSub("127.0.0.1", ports.zmq_port)
            sent.append(peer.declare_huge_frame(2 << 30, SEND_EACH))
            cut.append(peer.closed_by_peer(2.0))
            peer.close()
        grew = rss_bytes(running.proc.pid) - rss0
        results = running.sub.results("a", t0)
        dt = time.monotonic() - t0
        report("zmtp huge frames", peers=PEERS, sent_mb=[s >> 20 for s in sent], rss_growth_mb=grew / 2**20)
        assert all(cut), "a peer declaring a 2 GiB frame was not disconnected"
        assert max(sent) < 16 << 20, f"the daemon took {max(sent) >> 20} MB of a frame it cannot accept"
        assert grew < 20 << 20, f"RSS grew {grew >> 20} MB"
        assert len(results) >= 0.8 * 25 * dt - 5, f"{len(results)} results in {dt:.1f} s"
        assert running.alive() and "Traceback" not in running.logs()
    finally:
        running.sub.close()

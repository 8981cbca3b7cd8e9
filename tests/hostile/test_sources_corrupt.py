"""Corrupt frames on a live feed: an MJPEG camera with every third JPEG undecodable.

The good frames all arrive (two thirds of 25/s), each corrupt one is counted as a drop with
``reason="corrupt"``, the stream never reconnects, and a file stream beside it keeps its rate:
with capture threads in the daemon (``workers = 0``) and in a capture process (``workers = 1``), and
with either decoder (OpenCV, PyAV).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.robust_rig import (
    Ports,
    config_data,
    file_stream,
    report,
    start_daemon,
    tiny_models,
    value,
    write_config,
)
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.mjpeg import MjpegServer
from tests.support.procs import process_fds, process_threads, rss_bytes

pytestmark = pytest.mark.integration

FPS = 25.0
WINDOW_S = 6.0


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_models(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize(("workers", "decoder"), [(0, "opencv"), (1, "opencv"), (0, "pyav")])
def test_every_third_jpeg_corrupt_costs_only_those_frames(
    tmp_path: Path, models: dict[str, Any], clips: Clips, daemon_process: DaemonFactory, workers: int, decoder: str
) -> None:
    with MjpegServer(FPS, corrupt_every=3) as camera:
        streams = [{"name": "cam", "source": camera.url()}, file_stream("good", clips.h264_long)]
        ports = Ports()
        data = config_data(ports, models, streams, capture={"workers": workers, "decoder": decoder})
        running = start_daemon(
            daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=("cam", "good")
        )
        try:
            time.sleep(1.0)
            pid = running.proc.pid
            before = running.scrape()
            sent0, corrupted0 = camera.sent, camera.corrupted
            t0 = time.monotonic()
            time.sleep(WINDOW_S)
            after = running.scrape()
            dt = time.monotonic() - t0
            sent, corrupted = camera.sent - sent0, camera.corrupted - corrupted0

            def delta(name: str, **labels: str) -> float:
                return value(after, name, **labels) - value(before, name, **labels)

            cam_fps = delta("streamer_frames_processed_total", stream="cam") / dt
            good_fps = delta("streamer_frames_processed_total", stream="good") / dt
            corrupt = delta("streamer_frames_dropped_total", stream="cam", reason="corrupt")
            good_frames = (sent - corrupted) / dt
            report(
                f"corrupt mjpeg, workers={workers}, decoder={decoder}",
                cam_fps=cam_fps,
                good_frames_served_per_s=good_frames,
                corrupt_counted=corrupt,
                corrupted_served=corrupted,
                good_fps=good_fps,
                reconnects=value(after, "streamer_stream_reconnects_total", stream="cam"),
                rss_mb=rss_bytes(pid) / 2**20,
                fds=len(process_fds(pid)),
                threads=process_threads(pid),
            )
            assert running.alive()
            assert camera.connections == 1, "the feed was reopened"
            assert value(after, "streamer_stream_reconnects_total", stream="cam") == 0
            assert cam_fps >= 0.9 * good_frames, (cam_fps, good_frames)
            assert abs(corrupt - corrupted) <= 3, (corrupt, corrupted)
            assert good_fps >= 0.95 * FPS, good_fps
            assert value(after, "streamer_stream_up", stream="cam") == 1
            logs = running.logs()
            assert "Traceback" not in logs
            assert "No JPEG data" not in logs and "mjpeg @" not in logs, "FFmpeg's per-frame errors reached the log"
            # Published frames show the gaps: seq skips exactly the corrupt ones.
            seqs = [m.body["seq"] for m in running.sub.results("cam")]
            assert seqs == sorted(seqs)
        finally:
            running.sub.close()

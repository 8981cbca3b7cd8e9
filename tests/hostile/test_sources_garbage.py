"""Garbage sources beside a good stream: the daemon lives, the good stream keeps its rate, RSS levels.

Five hostile sources at once, each retried as fast as the backoff allows: a file of random bytes,
an HTTP server sending random bytes after a multipart header, one sending header lines forever,
one that accepts and never answers, and an MJPEG camera whose every JPEG is corrupt. After a
warm-up the daemon's RSS, fds and threads are sampled; RSS must level (growth over the measured
window under 5 MB, the daemon and its capture processes together), fds and threads stay within
what the hostile sources hold at any moment.

The CI run takes about 40 s. The long campaign is the same test for longer::

    STREAMER_GARBAGE_S=1800 python -m pytest -s tests/hostile/test_sources_garbage.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.sources_rig import sample
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
from tests.support.mjpeg import HostileHttpServer, Hostility, MjpegServer

pytestmark = pytest.mark.integration

FPS = float(Clips.FPS)
WARMUP_S = 12.0
MEASURE_S = float(os.environ.get("STREAMER_GARBAGE_S", "25"))
SAMPLE_S = min(30.0, max(2.5, MEASURE_S / 10))
RSS_GROWTH_MAX = 5 * 2**20
CAPTURE = {"open_timeout_s": 1.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.1, "backoff_max_s": 0.5}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_models(tmp_path_factory.mktemp("models"))


# The capture-thread variant runs in the default suite; the others with -m slow (or the full suite).
VARIANTS = [
    (0, "opencv"),
    pytest.param(1, "opencv", marks=pytest.mark.slow),
    pytest.param(0, "pyav", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("workers", "decoder"), VARIANTS)
def test_garbage_sources_cost_nothing_and_leak_nothing(
    tmp_path: Path, models: dict[str, Any], clips: Clips, daemon_process: DaemonFactory, workers: int, decoder: str
) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(2 * 2**20))
    garbage = HostileHttpServer(Hostility.GARBAGE)
    headers = HostileHttpServer(Hostility.HEADERS)
    silent = HostileHttpServer(Hostility.SILENT)
    corrupt = MjpegServer(FPS, corrupt_every=1)  # never a decodable frame: a lost source, not corrupt frames
    hostile = {
        "http_garbage": garbage.url(),
        "http_headers": headers.url(),
        "http_silent": silent.url(),
        "mjpeg_all_corrupt": corrupt.url(),
    }
    servers = (garbage, headers, silent, corrupt)
    try:
        streams = [
            file_stream("good", clips.h264_long),
            {"name": "noise_file", "source": str(noise), "loop": True},
            *({"name": name, "source": url} for name, url in hostile.items()),
        ]
        ports = Ports()
        data = config_data(ports, models, streams, capture={**CAPTURE, "workers": workers, "decoder": decoder})
        running = start_daemon(daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=("good",))
        try:
            pid = running.proc.pid
            time.sleep(WARMUP_S)
            before = running.scrape()
            t0 = time.monotonic()
            base = sample(pid)
            samples = [base]
            while time.monotonic() - t0 < MEASURE_S:
                time.sleep(SAMPLE_S)
                samples.append(sample(pid))
                assert running.alive(), running.logs()[-3000:]
            after = running.scrape()
            dt = time.monotonic() - t0
            good_fps = (
                value(after, "streamer_frames_processed_total", stream="good")
                - value(before, "streamer_frames_processed_total", stream="good")
            ) / dt
            backoffs = {
                n: value(after, "streamer_stream_backoffs_total", stream=n)
                - value(before, "streamer_stream_backoffs_total", stream=n)
                for n in hostile
            }
            rss = [s[0] for s in samples]
            growth = rss[-1] - min(rss[: max(1, len(rss) // 3)])
            report(
                f"garbage sources, workers={workers}, decoder={decoder}",
                seconds=dt, good_fps=good_fps, backoffs=backoffs,
                connections={n: s.connections for n, s in zip(hostile, servers, strict=True)},
                rss_mb=[round(r / 2**20, 1) for r in rss], fds=[s[1] for s in samples],
                threads=[s[2] for s in samples], corrupt=value(
                    after, "streamer_frames_dropped_total", stream="mjpeg_all_corrupt", reason="corrupt"
                ),
            )  # fmt: skip
            assert running.alive()
            assert good_fps >= 0.95 * FPS, good_fps
            assert growth <= RSS_GROWTH_MAX, f"RSS grew {growth / 2**20:.1f} MB: {rss}"
            # At any moment each hostile network source holds at most a socket or two.
            assert max(s[1] for s in samples) <= base[1] + 2 * len(hostile), samples
            assert max(s[2] for s in samples) <= base[2] + 2, samples
            for name in hostile:
                assert backoffs[name] >= 1, (name, backoffs)  # kept being retried, and counted
                assert value(after, "streamer_stream_up", stream=name) == 0, name
            assert value(after, "streamer_stream_state", stream="noise_file", state="failed") == 1
            assert "Traceback" not in running.logs()
        finally:
            running.sub.close()
    finally:
        for server in servers:
            server.close()

"""File descriptors run out while an RTSP camera reconnects.

The daemon (and its capture processes) get ``RLIMIT_NOFILE`` lowered below the descriptors they
hold, so no new socket or file can be opened; then the camera's server is killed and started
again. The camera cannot reconnect: each attempt fails, is counted (``streamer_stream_backoffs_total``)
and backs off, while a file stream beside it keeps its rate and the daemon lives. Once the limit
is restored the camera is back within the backoff cap plus 2 s, with nothing leaked.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.sources_rig import limit_fds, sample
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
from tests.support.fixtures import DaemonFactory, RtspServerFactory
from tests.support.media import Clips
from tests.support.procs import wait_until

pytestmark = pytest.mark.integration

FPS = float(Clips.FPS)
BACKOFF_CAP_S = 1.0
CAPTURE = {"open_timeout_s": 2.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": BACKOFF_CAP_S}
EXHAUSTED_S = 6.0


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
def test_camera_reconnects_after_fds_ran_out(  # noqa: PLR0913, PLR0917  (pytest fixtures and parameters)
    tmp_path: Path,
    models: dict[str, Any],
    clips: Clips,
    rtsp_server: RtspServerFactory,
    daemon_process: DaemonFactory,
    workers: int,
    decoder: str,
) -> None:
    victim = rtsp_server()
    streams = [{"name": "cam", "source": victim.url()}, file_stream("file", clips.h264_long)]
    ports = Ports()
    data = config_data(ports, models, streams, capture={**CAPTURE, "workers": workers, "decoder": decoder})
    running = start_daemon(daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=("cam", "file"))
    try:
        pid = running.proc.pid
        time.sleep(2.0)
        before = running.scrape()
        rss0, fds0, threads0 = sample(pid)
        # Below what every process holds: not one more descriptor anywhere (metrics cannot be
        # scraped meanwhile; the subscriber's connection is already open).
        limit_fds(pid, 8)
        try:
            t_fault = time.monotonic()
            victim.kill()
            victim.start()
            time.sleep(EXHAUSTED_S)
            during = [m for m in running.sub.results("file", since=t_fault + 1.0)]
            cam_during = running.sub.results("cam", since=t_fault + 2.0)
            assert running.alive(), running.logs()[-3000:]
        finally:
            limit_fds(pid, None)
        t_restored = time.monotonic()
        try:
            wait_until(lambda: running.sub.state_changes("cam", "up", t_restored), BACKOFF_CAP_S + 4.0, 0.05, "cam up")
        except TimeoutError:
            raise AssertionError(f"cam not back:\n{running.logs()[-4000:]}") from None
        back_s = running.sub.state_changes("cam", "up", t_restored)[0].t_recv - t_restored
        time.sleep(2.0)
        after = running.scrape()
        rss1, fds1, threads1 = sample(pid)
        file_fps = (len(during) - 1) / (during[-1].t_recv - during[0].t_recv)
        backoffs = value(after, "streamer_stream_backoffs_total", stream="cam") - value(
            before, "streamer_stream_backoffs_total", stream="cam"
        )
        report(
            f"fds exhausted while a camera reconnects, workers={workers}, decoder={decoder}",
            file_fps_during=file_fps, cam_results_during=len(cam_during), back_after_s=back_s,
            backoffs=backoffs, reconnects=value(after, "streamer_stream_reconnects_total", stream="cam"),
            rss_mb=(round(rss0 / 2**20, 1), round(rss1 / 2**20, 1)), fds=(fds0, fds1), threads=(threads0, threads1),
        )  # fmt: skip
        assert not cam_during, "the camera came back while no socket could be opened"
        assert file_fps >= 0.95 * FPS, file_fps
        assert backoffs >= 3, backoffs  # several attempts, each failed and counted
        assert back_s <= BACKOFF_CAP_S + 2.0, back_s
        assert value(after, "streamer_stream_reconnects_total", stream="cam") == 1
        assert fds1 <= fds0 + 1 and threads1 <= threads0 + 1, ((fds0, fds1), (threads0, threads1))
        assert rss1 <= rss0 + 5 * 2**20, (rss0, rss1)
        assert "Traceback" not in running.logs()
    finally:
        running.sub.close()

"""A source that changes resolution mid-stream is published at the size of each frame.

Three sources change size without ending: a file whose H.264 stream is 320x240 for 2 s, then
640x360 (played in a loop), the same file served over one RTSP session, and an MJPEG camera that
switches between 320x240 and 480x270 every second. With ``[capture] decoder = "pyav"`` every
message carries the frame's real size. OpenCV's decoder converts every frame to the first
frame's size; that case is kept as a strict expected failure, so a fixed OpenCV shows up here.
"""

from __future__ import annotations

import time
from collections import Counter
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
    write_config,
)
from tests.support.fixtures import DaemonFactory, RtspServerFactory
from tests.support.media import make_resizing_clip
from tests.support.mjpeg import MjpegServer
from tests.support.tools import require_ffmpeg

pytestmark = pytest.mark.integration

SMALL, LARGE, WIDE = (320, 240), (640, 360), (480, 270)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def resizing_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An mp4 whose one H.264 stream changes from 320x240 to 640x360 after 50 frames (2 s)."""
    require_ffmpeg()
    return make_resizing_clip(tmp_path_factory.mktemp("resize") / "resizing.mp4", [SMALL, LARGE])


@pytest.mark.parametrize(
    "decoder",
    [
        "pyav",
        pytest.param(
            "opencv",
            marks=pytest.mark.xfail(strict=True, reason="OpenCV converts every frame to the first frame's size"),
        ),
    ],
)
def test_frames_are_published_at_their_real_size(
    tmp_path: Path,
    models: dict[str, Any],
    resizing_clip: Path,
    rtsp_server: RtspServerFactory,
    daemon_process: DaemonFactory,
    decoder: str,
) -> None:
    server = rtsp_server([resizing_clip])
    with MjpegServer(25.0, size_at=lambda i: SMALL if (i // 25) % 2 == 0 else WIDE) as camera:
        streams = [
            file_stream("file", resizing_clip),
            {"name": "rtsp", "source": server.url()},
            {"name": "mjpeg", "source": camera.url()},
        ]
        ports = Ports()
        data = config_data(ports, models, streams, capture={"workers": 0, "decoder": decoder})
        running = start_daemon(
            daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=("file", "rtsp", "mjpeg")
        )
        try:
            time.sleep(6.0)
            sizes = {
                name: Counter((m.body["frame"]["width"], m.body["frame"]["height"]) for m in running.sub.results(name))
                for name in ("file", "rtsp", "mjpeg")
            }
            report(f"resolution changes, decoder={decoder}", **{k: dict(v) for k, v in sizes.items()})
            assert running.alive()
            expected = {"file": {SMALL, LARGE}, "rtsp": {SMALL, LARGE}, "mjpeg": {SMALL, WIDE}}
            for name, seen in sizes.items():
                assert set(seen) == expected[name], (name, seen)
                assert min(seen.values()) >= 0.2 * sum(seen.values()), (name, seen)  # each size for its share
            assert "Traceback" not in running.logs()
        finally:
            running.sub.close()

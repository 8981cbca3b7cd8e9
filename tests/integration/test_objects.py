"""Tracked objects through the daemon: a real H.264 clip of moving squares, a real detector, stable ids."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from streamer.codec import schema
from tests import objectmodels, tinymodels
from tests.integration.robust_rig import scrape, value
from tests.integration.test_daemon import Subscriber, start
from tests.support.media import ffmpeg_path
from tests.support.procs import free_port, wait_until
from tests.systemd.daemon import toml_dumps

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ffmpeg_path() is None, reason="needs ffmpeg to encode H.264"),
]

W, H, FRAMES = 320, 240, 50


def square_clip(path: Path) -> Path:
    """Two red 40x40 squares crossing the frame in opposite directions over grey noise, H.264."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(FRAMES):
        image = rng.integers(50, 80, (H, W, 3), dtype=np.uint8)
        for cx, cy in ((40 + 5 * k, 60), (285 - 5 * k, 170)):
            image[cy - 20 : cy + 20, cx - 20 : cx + 20] = (0, 0, 230)  # BGR red
        frames.append(image)
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}", "-r", "25", "-i", "-",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-g", "25", "-bf", "0", str(path),
        ],
        input=b"".join(f.tobytes() for f in frames),
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    objectmodels.blob_detector(tmp_path / "blob.onnx")
    tinymodels.classifier(tmp_path / "cls.onnx", size=(24, 32))
    tinymodels.sequence(tmp_path / "seq.onnx")
    return {
        "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}"},
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "models": {
            "det": {"path": "blob.onnx", "confidence": 0.5},
            "frame": {"path": "cls.onnx"},
            "motion": {"path": "seq.onnx", "features": "frame", "objects": "det"},
        },
        "tracking": {"lost_buffer_s": 0.5},
    }


def test_moving_objects_keep_their_ids_and_a_loop_starts_new_ones(tmp_path: Path, setup: dict[str, Any]) -> None:
    clip = square_clip(tmp_path / "squares.mp4")
    streams = [{"name": "yard", "source": str(clip), "realtime": False, "loop": True}]
    sub = Subscriber(setup["publish"]["endpoint"])
    proc = start(tmp_path, {**setup, "streams": []})
    try:
        sub.wait_connected(60)
        (tmp_path / "config.toml").write_text(toml_dumps({**setup, "streams": streams}))
        proc.send_signal(signal.SIGHUP)

        def three_loops() -> bool:
            sub.drain(time.monotonic() + 0.2)
            return any(m["epoch"] >= 3 for m in sub.results("yard"))

        wait_until(three_loops, 60, what="three loops of the clip")
        metrics = scrape(setup["metrics"]["listen"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        sub.close()
    assert proc.returncode == 0, (tmp_path / "stderr.log").read_text()
    msgs = [m for m in sub.results("yard") if m["epoch"] < 3]
    result_schema = schema("result")
    ids_by_epoch: dict[int, dict[str, set[int | None]]] = defaultdict(lambda: defaultdict(set))
    steps: dict[int, list[int]] = defaultdict(list)
    for m in msgs:
        jsonschema.validate(m, result_schema)
        assert m["v"] == 2 and m["sequence"] is None  # the sequence model runs per object here
        dets = m["models"]["det"]["detections"]
        assert len(dets) == 2, m
        first = m["seq"] % FRAMES == 0
        for d in dets:
            row = "top" if d["box"][1] < H / 2 else "bottom"
            if first:  # tentative on its first frame: no id, no sequence yet
                assert d["track_id"] is None and "sequence" not in d
                continue
            ids_by_epoch[m["epoch"]][row].add(d["track_id"])
            assert d["sequence"]["model"] == "motion" and d["sequence"]["label"] in ("still", "moving")
            steps[d["track_id"]].append(d["sequence"]["steps"])
    assert sorted(ids_by_epoch) == [0, 1, 2], "offline play loses no frame"
    seen: list[int] = []
    for epoch, rows in ids_by_epoch.items():
        assert set(rows) == {"top", "bottom"}
        for ids in rows.values():
            assert len(ids) == 1 and None not in ids, f"epoch {epoch}: one id per object, got {ids}"
            seen += [i for i in ids if i is not None]
    assert len(set(seen)) == 6, "a new epoch gives new ids, never reused"
    for track, run in steps.items():
        assert run == list(range(1, FRAMES)), f"track {track}: one step per frame from its confirmation"
    assert value(metrics, "streamer_tracks_started_total", stream="yard") >= 6
    assert value(metrics, "streamer_tracks_ended_total", stream="yard") >= 4  # two loops ended two tracks each
    assert value(metrics, "streamer_object_sequence_steps_total", stream="yard") >= 6 * (FRAMES - 1)
    assert value(metrics, "streamer_tracks_alive", stream="yard") in (0.0, 2.0)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"tracking": {"high_score": 0.7, "new_track_score": 0.6}}, "tracking: scores must satisfy"),
        ({"tracking": {"lost_buffer": 1.0}}, "tracking.lost_buffer: unknown key"),
        ({"tracking": {"confirm_hits": 0}}, "tracking.confirm_hits"),
        ({"tracking": {"enabled": False}}, "models.motion.objects: steps over tracked objects"),
    ],
)
def test_bad_tracking_config_is_one_line_and_exit_2(
    tmp_path: Path, setup: dict[str, Any], extra: dict[str, Any], needle: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps({**setup, **extra}))
    proc = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("model", "objects", "error"),
    [
        ("motion", "frame", "models.motion.objects: model 'frame' is not a detector"),
        ("frame", "det", "models.frame.objects: only a sequence model steps over tracked objects"),
    ],
)
def test_objects_where_they_make_no_sense_are_refused(
    tmp_path: Path, setup: dict[str, Any], model: str, objects: str, error: str
) -> None:
    setup["models"][model]["objects"] = objects
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps(setup))
    proc = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"streamer: error: {error}"


def test_a_reload_that_changes_tracking_takes_effect(tmp_path: Path, setup: dict[str, Any]) -> None:
    clip = square_clip(tmp_path / "squares.mp4")
    streams = [{"name": "yard", "source": str(clip), "realtime": False, "loop": True}]
    sub = Subscriber(setup["publish"]["endpoint"])
    proc = start(tmp_path, {**setup, "streams": []})
    try:
        sub.wait_connected(60)
        (tmp_path / "config.toml").write_text(toml_dumps({**setup, "streams": streams}))
        proc.send_signal(signal.SIGHUP)
        sub.wait_for("yard", 30)
        before = len(sub.results("yard"))
        # Ids at once instead of on a track's second frame.
        instant = {**setup, "tracking": {"confirm_hits": 1}, "streams": streams}
        (tmp_path / "config.toml").write_text(toml_dumps(instant))
        proc.send_signal(signal.SIGHUP)

        def first_frame_with_ids() -> bool:
            sub.drain(time.monotonic() + 0.2)
            return any(
                m["seq"] % FRAMES == 0 and m["models"]["det"]["detections"][0]["track_id"] is not None
                for m in sub.results("yard")[before:]
            )

        wait_until(first_frame_with_ids, 30, what="a clip's first frame with track ids")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        sub.close()
    early = [m for m in sub.results("yard")[:before] if m["seq"] % FRAMES == 0]
    assert early and all(d["track_id"] is None for m in early for d in m["models"]["det"]["detections"])

"""Third-party models in the running daemon: a classifier ending in Softmax and a YOLOv5-layout detector
with keep-ratio padding, on a real encoded clip, their results read over ZeroMQ."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests import tinymodels
from tests.integration.robust_rig import Ports, config_data, start_daemon, write_config
from tests.support.fixtures import DaemonFactory
from tests.support.procs import wait_until

pytestmark = pytest.mark.integration

W, H, SIDE, FRAMES = 320, 240, 40, 40


def square_at(index: int) -> tuple[int, int]:
    return (index * 7) % (W - SIDE), (index * 3) % (H - SIDE)


def make_clip(path: Path) -> Path:
    """Dark red frames (every channel under half) with a white square moving over them, mp4v."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (W, H))
    assert writer.isOpened()
    for i in range(FRAMES):
        image = np.zeros((H, W, 3), np.uint8)
        image[..., 2] = 110
        x, y = square_at(i)
        image[y : y + SIDE, x : x + SIDE] = 255
        writer.write(image)
    writer.release()
    return path


def test_softmax_classifier_and_padded_yolov5_detector(tmp_path: Path, daemon_process: DaemonFactory) -> None:
    cls = tinymodels.classifier(
        tmp_path / "scenes.onnx", metadata=False, ending=("Softmax",), output_name="prob", embedding=False, gain=30
    )
    det = tinymodels.box_finder(tmp_path / "yolov5.onnx", "yolov5", ("square", "other"), (64, 128), anchors=100)
    models = {
        "scenes": {"path": str(cls), "kind": "classifier", "labels": ["red", "green", "blue"], "top_k": 3},
        "boxes": {"path": str(det), "kind": "detector", "labels": ["square", "other"], "resize": "pad"},
    }
    clip = make_clip(tmp_path / "squares.mp4")
    streams = [{"name": "cam", "source": str(clip), "realtime": False, "loop": False}]
    ports = Ports()
    path = write_config(tmp_path / "c.toml", config_data(ports, models, streams, capture={"workers": 0}))
    check = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert "3 labels, activation softmax (already in the graph; top-k)" in check.stdout
    assert "NCHW 64x128 RGB float32 pad (fill 0), 2 labels, format yolov5" in check.stdout
    running = start_daemon(daemon_process, path, ports, wait_streams=("cam",))
    try:
        wait_until(lambda: len(running.sub.results("cam")) >= 20, 20, 0.1, "20 results")
        for message in running.sub.results("cam"):
            outputs = message.body["models"]
            top = outputs["scenes"]["top"]
            # The graph's own probabilities: a softmax over them would publish at most 0.576.
            assert top[0]["label"] == "red" and top[0]["score"] > 0.99, top
            assert sum(t["score"] for t in top) == pytest.approx(1.0, abs=1e-4)
            (box,) = outputs["boxes"]["detections"]
            x1, y1, x2, y2 = box["box"]
            # The square of some frame of the clip, mapped back from the top-left padded input
            # (scale 64/240: one input pixel is 3.75 source pixels).
            assert any(abs(x1 - x) <= 5 and abs(y1 - y) <= 5 for x, y in map(square_at, range(FRAMES))), box
            assert abs((x2 - x1) - SIDE) <= 8 and abs((y2 - y1) - SIDE) <= 8, box
    finally:
        running.sub.close()

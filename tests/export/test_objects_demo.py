"""The objects demo clip: H.264 that OpenCV decodes frame for frame, ground truth that matches the scene."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from export.datasets import SPLIT_OBJECTS_DEMO
from export.objects_demo import FRAMES, INITIAL_OBJECTS, read_objects_truth, write_objects_demo
from export.scenes_objects import ObjectScene
from tests.support.tools import require_ffmpeg

REPO = Path(__file__).resolve().parents[2]


def test_clip_is_h264_and_truth_matches_the_scene(tmp_path: Path) -> None:
    require_ffmpeg()
    clip, labels = write_objects_demo(tmp_path, seed=3)
    cap = cv2.VideoCapture(str(clip))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode(errors="replace")
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert fourcc.lower() in ("avc1", "h264") and len(frames) == FRAMES
    assert frames[0].shape == (240, 320, 3) and clip.stat().st_size < 400_000
    truth = read_objects_truth(labels)
    scene = ObjectScene([3, SPLIT_OBJECTS_DEMO], FRAMES, initial=INITIAL_OBJECTS)
    for t in (0, 57, FRAMES - 1):
        rendered = scene.frame(t)
        assert truth[t] == rendered.objects
        # The encoded frame is the rendered one up to H.264 loss (which takes most of the sensor noise).
        smooth = [cv2.GaussianBlur(img, (7, 7), 0) for img in (frames[t], rendered.image)]
        assert cv2.absdiff(*smooth).mean() < 3
    meta = json.loads(labels.read_text())
    assert meta["frames"] == FRAMES and meta["labels"] == ["circle", "square", "triangle", "star"]
    assert write_objects_demo(tmp_path / "again", seed=3)[0].read_bytes() == clip.read_bytes()


def test_bundled_truth_is_the_generator_s() -> None:
    """models/objects.json is what the scene generator says for the bundled clip's seed."""
    meta = json.loads((REPO / "models" / "objects.json").read_text())
    truth = read_objects_truth(REPO / "models" / "objects.json")
    scene = ObjectScene([meta["seed"], SPLIT_OBJECTS_DEMO], FRAMES, initial=INITIAL_OBJECTS)
    assert len(truth) == FRAMES
    assert all(truth[t] == scene.frame(t).objects for t in range(0, FRAMES, 9))
    ids = {o.id for frame in truth for o in frame}
    assert len(ids) >= 8  # several objects, some of them entering after the start

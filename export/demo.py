"""The bundled demo clip: one camera, a sequence of labelled segments, written with OpenCV (mp4v).

``demo.json`` beside it lists each segment's frame range (end exclusive), frame class and motion,
so a test can check that the daemon's published labels match what the clip shows. Labels of a new
segment settle about ``seq_len`` (16) frames after it starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from export.datasets import SPLIT_DEMO
from export.errors import ExportError
from export.scene_motion import MOTIONS
from export.scenes import CAMERA_HEIGHT, CAMERA_WIDTH, FRAME_CLASSES, Scene, Segment

FPS = 25
DEMO_CLIP = "demo.mp4"
DEMO_LABELS = "demo.json"

# Three seconds or more each, so a subscriber sees every label settle; ~31 s in all.
DEMO_SEGMENTS: tuple[Segment, ...] = (
    Segment("circle", "right", 80),
    Segment("circle", "still", 75, same_object=True),
    Segment("square", "left", 80),
    Segment("triangle", "down", 75),
    Segment("empty", "none", 60),
    Segment("star", "up", 75),
    Segment("star", "zigzag", 90, same_object=True),
    Segment("square", "still", 75),
    Segment("triangle", "right", 80),
    Segment("circle", "zigzag", 85),
)


def write_demo(out_dir: Path, seed: int) -> tuple[Path, Path]:
    """Render the demo clip and its label file into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clip_path, labels_path = out_dir / DEMO_CLIP, out_dir / DEMO_LABELS
    scene = Scene([seed, SPLIT_DEMO], DEMO_SEGMENTS)
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(clip_path), fourcc, float(FPS), (CAMERA_WIDTH, CAMERA_HEIGHT))
    if not writer.isOpened():
        raise ExportError(f"{clip_path}: OpenCV cannot write mp4v video here")
    try:
        for frame in scene.frames():
            writer.write(frame)
    finally:
        writer.release()
    segments = []
    start = 0
    for seg in DEMO_SEGMENTS:
        segments.append(
            {
                "start": start,
                "end": start + seg.length,
                "frame_class": seg.shape,
                "motion": seg.motion,
                "same_object": seg.same_object,
            }
        )
        start += seg.length
    meta = {
        "clip": DEMO_CLIP,
        "fps": FPS,
        "width": CAMERA_WIDTH,
        "height": CAMERA_HEIGHT,
        "frames": start,
        "seed": seed,
        "frame_classes": list(FRAME_CLASSES),
        "motion_classes": list(MOTIONS),
        "settle_frames": 16,
        "segments": segments,
    }
    labels_path.write_text(json.dumps(meta, indent=2) + "\n")
    return clip_path, labels_path

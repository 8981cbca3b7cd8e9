"""The bundled multi-object demo: ``objects.mp4`` (H.264, by FFmpeg) and its ground truth ``objects.json``.

``objects.json`` lists, for every frame, each object in it: ``id`` (stable for the object's life in
the clip), ``label``, ``box`` ``[x1, y1, x2, y2]`` in source pixels, ``visibility`` (0..1) and
``motion``. Objects seen less than ``min_visibility`` are "don't care" when scoring detections.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from export.datasets import SPLIT_OBJECTS_DEMO
from export.errors import ExportError
from export.object_data import MIN_VISIBILITY
from export.object_motion import OBJECT_MOTIONS
from export.scenes import CAMERA_HEIGHT, CAMERA_WIDTH, OBJECT_CLASSES
from export.scenes_objects import ObjectScene, ObjectTruth

OBJECTS_CLIP = "objects.mp4"
OBJECTS_LABELS = "objects.json"
FPS = 25
FRAMES = 200  # 8 s
INITIAL_OBJECTS = 6


def _ffmpeg_args(path: Path) -> list[str]:
    # Baseline H.264 with a keyframe every second and no B-frames: any decoder starts fast and low-latency.
    # Bit-exact flags and one thread make the file the same bytes on every run.
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{CAMERA_WIDTH}x{CAMERA_HEIGHT}", "-r", str(FPS), "-i", "-",
        "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", str(FPS), "-bf", "0",
        "-crf", "23", "-threads", "1", "-flags", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
        "-an", str(path),
    ]  # fmt: skip


def _object(obj: ObjectTruth) -> dict[str, Any]:
    return {"id": obj.id, "label": obj.label, "box": list(obj.box), "visibility": obj.visibility, "motion": obj.motion}


def write_objects_demo(out_dir: Path, seed: int) -> tuple[Path, Path]:
    """Render the clip through FFmpeg (libx264) and write its per-frame ground truth."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ExportError("ffmpeg not found: it encodes the H.264 demo clip (apt-get install ffmpeg)")
    out_dir.mkdir(parents=True, exist_ok=True)
    clip_path, labels_path = out_dir / OBJECTS_CLIP, out_dir / OBJECTS_LABELS
    scene = ObjectScene([seed, SPLIT_OBJECTS_DEMO], FRAMES, initial=INITIAL_OBJECTS)
    frames: list[dict[str, Any]] = []
    args = _ffmpeg_args(clip_path)
    args[0] = ffmpeg
    with subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        if proc.stdin is None:  # pragma: no cover - Popen with PIPE always has it
            raise ExportError("ffmpeg: no stdin")
        try:
            for t, frame in enumerate(scene.frames()):
                proc.stdin.write(frame.image.tobytes())
                frames.append({"frame": t, "objects": [_object(o) for o in frame.objects]})
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its exit status says why
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            raise ExportError(f"ffmpeg failed writing {clip_path}: {err.splitlines()[-1] if err else 'no message'}")
    header = {
        "clip": OBJECTS_CLIP,
        "fps": FPS,
        "width": CAMERA_WIDTH,
        "height": CAMERA_HEIGHT,
        "frames": FRAMES,
        "seed": seed,
        "labels": list(OBJECT_CLASSES),
        "motion_classes": list(OBJECT_MOTIONS),
        "min_visibility": MIN_VISIBILITY,
        "box_format": "x1 y1 x2 y2, source pixels",
    }
    # One frame per line: readable, and diffs of a regenerated file stay small.
    body = ",\n".join("    " + json.dumps(f, separators=(", ", ": ")) for f in frames)
    text = json.dumps(header, indent=2)[:-2] + ',\n  "frame_objects": [\n' + body + "\n  ]\n}\n"
    labels_path.write_text(text)
    json.loads(text)  # the hand-joined file must stay valid JSON
    return clip_path, labels_path


def decode_frames(clip: Path) -> list[np.ndarray]:
    """Every frame of ``clip`` as OpenCV decodes it (as the daemon reads a file), BGR."""
    cap = cv2.VideoCapture(str(clip))
    frames: list[np.ndarray] = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return frames
            frames.append(frame)
    finally:
        cap.release()


def read_objects_truth(labels_path: Path) -> tuple[tuple[ObjectTruth, ...], ...]:
    """The per-frame ground truth of ``objects.json`` as records."""
    meta = json.loads(labels_path.read_text())
    return tuple(
        tuple(
            ObjectTruth(
                id=int(o["id"]),
                label=str(o["label"]),
                box=(float(o["box"][0]), float(o["box"][1]), float(o["box"][2]), float(o["box"][3])),
                visibility=float(o["visibility"]),
                motion=str(o["motion"]),
            )
            for o in f["objects"]
        )
        for f in meta["frame_objects"]
    )

"""Detection sets rendered from multi-object scenes: model-input frames with padded box targets.

Frames go through the daemon's own preprocessing (:func:`export.datasets.to_model_input`, a stretch
resize), boxes are scaled to input pixels the same way. Objects seen less than ``MIN_VISIBILITY``
(mostly hidden behind others or the pole, or mostly outside the frame) are kept as "ignore"
regions: neither a target nor a false alarm, in training and in the COCO evaluation (``iscrowd``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from export.datasets import to_model_input
from export.scenes import OBJECT_CLASSES
from export.scenes_objects import MAX_OBJECTS, ObjectScene, ObjectTruth

MIN_VISIBILITY = 0.3


@dataclass(frozen=True)
class DetectionSet:
    """``F`` frames with up to ``MAX_OBJECTS`` boxes each; clip ``i`` is frames ``offsets[i]:offsets[i+1]``."""

    images: np.ndarray  # [F, h, w, 3] uint8 RGB at the model input size
    boxes: np.ndarray  # [F, M, 4] float32 xyxy in model input pixels (padding rows are 0)
    classes: np.ndarray  # [F, M] int64 index into OBJECT_CLASSES, -1 for padding
    ignore: np.ndarray  # [F, M] bool: a "don't care" region, not a target
    truths: tuple[tuple[ObjectTruth, ...], ...]  # per frame, camera pixels
    offsets: np.ndarray  # [S + 1] int64
    camera_size: tuple[int, int]  # (width, height) of the rendered frames

    @property
    def num_clips(self) -> int:
        """Number of clips in the set."""
        return len(self.offsets) - 1


def targets(truths: tuple[ObjectTruth, ...], scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded boxes (scaled by ``scale`` = (sx, sy)), class indices and ignore flags of one frame."""
    boxes = np.zeros((MAX_OBJECTS, 4), np.float32)
    classes = np.full(MAX_OBJECTS, -1, np.int64)
    ignore = np.zeros(MAX_OBJECTS, bool)
    sx, sy = scale
    for j, obj in enumerate(truths[:MAX_OBJECTS]):
        x1, y1, x2, y2 = obj.box
        boxes[j] = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
        classes[j] = OBJECT_CLASSES.index(obj.label)
        ignore[j] = obj.visibility < MIN_VISIBILITY
    return boxes, classes, ignore


def render_detection_set(
    seeds: list[list[int]],
    length: int,
    size: tuple[int, int],
    *,
    frames_per_clip: int | None = None,
    jpeg_prob: float = 0.0,
    desc: str = "objects",
) -> DetectionSet:
    """One scene of ``length`` frames per seed; keep ``frames_per_clip`` random frames of each (all if None)."""
    per_clip = length if frames_per_clip is None else min(frames_per_clip, length)
    total = len(seeds) * per_clip
    h, w = size
    images = np.empty((total, h, w, 3), np.uint8)
    boxes = np.zeros((total, MAX_OBJECTS, 4), np.float32)
    classes = np.full((total, MAX_OBJECTS), -1, np.int64)
    ignore = np.zeros((total, MAX_OBJECTS), bool)
    truths: list[tuple[ObjectTruth, ...]] = []
    camera = (0, 0)
    i = 0
    for seed in tqdm(seeds, desc=desc, unit="clip", leave=False):
        scene = ObjectScene(seed, length, jpeg_prob=jpeg_prob)
        camera = (scene.width, scene.height)
        scale = (w / scene.width, h / scene.height)
        if frames_per_clip is None:
            picks = np.arange(length)
        else:
            picks = np.sort(np.random.default_rng([*seed, 3]).choice(length, per_clip, replace=False))
        for t in picks:
            frame = scene.frame(int(t))
            images[i] = to_model_input(frame.image, h, w)
            boxes[i], classes[i], ignore[i] = targets(frame.objects, scale)
            truths.append(frame.objects)
            i += 1
    return DetectionSet(
        images=images,
        boxes=boxes,
        classes=classes,
        ignore=ignore,
        truths=tuple(truths),
        offsets=np.arange(0, total + 1, per_clip, dtype=np.int64),
        camera_size=camera,
    )

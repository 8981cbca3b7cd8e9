"""Frame and clip sets in model-input form, rendered from seeded scenes.

Frames go through exactly the daemon's preprocessing (``streamer.preprocess.resize``, a stretch to
the input size, then BGR -> RGB), so the models train on what they will see at run time. Splits draw from disjoint
seed sequences: ``[seed, split, index]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from export.scene_motion import MOTIONS
from export.scenes import FRAME_CLASSES, Scene, Segment, random_segments
from streamer.preprocess import resize

# Split numbers of the seed sequence; never reuse one for another purpose.
SPLIT_TRAIN = 0
SPLIT_HELDOUT_STREAMS = 1
SPLIT_HELDOUT_CLIPS = 2
SPLIT_CALIBRATION = 3
SPLIT_DEMO = 4
SPLIT_TRAIN_FRAMES = 5
# Multi-object scenes (the detector's data and demo).
SPLIT_OBJECTS_TRAIN = 10
SPLIT_OBJECTS_HELDOUT = 11
SPLIT_OBJECTS_CALIBRATION = 12
SPLIT_OBJECTS_DEMO = 13
SPLIT_OBJECT_MOTION_TRAIN = 14
SPLIT_OBJECTS_VALIDATION = 15

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class VideoSet:
    """Clips laid end to end: clip ``i`` is frames ``offsets[i]:offsets[i + 1]``."""

    images: np.ndarray  # [F, h, w, 3] uint8 RGB at the model input size
    frame_labels: np.ndarray  # [F] int64
    motion_labels: np.ndarray  # [F] int64
    centers: np.ndarray  # [F, 2] float32 in [-1, 1]; NaN where unknown
    segment_starts: np.ndarray  # [F] bool
    offsets: np.ndarray  # [S + 1] int64
    frame_classes: tuple[str, ...]
    motion_classes: tuple[str, ...]

    @property
    def num_clips(self) -> int:
        """Number of clips (streams) in the set."""
        return len(self.offsets) - 1

    def clip(self, i: int) -> slice:
        """The frame slice of clip ``i``."""
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))


def to_model_input(frame_bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """The daemon's preprocessing up to normalisation: its stretch resize, BGR -> RGB."""
    small = resize(frame_bgr, (width, height))
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, h, w, 3]`` RGB -> float32 ``[N, 3, h, w]``: ``(pixel / 255 - mean) / std``."""
    x: np.ndarray = images.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def concat_sets(parts: list[VideoSet]) -> VideoSet:
    """Join sets with the same classes into one."""
    sizes = np.cumsum([0] + [len(p.images) for p in parts])
    offsets = np.concatenate([[0]] + [p.offsets[1:] + base for p, base in zip(parts, sizes, strict=False)])
    return VideoSet(
        images=np.concatenate([p.images for p in parts]),
        frame_labels=np.concatenate([p.frame_labels for p in parts]),
        motion_labels=np.concatenate([p.motion_labels for p in parts]),
        centers=np.concatenate([p.centers for p in parts]),
        segment_starts=np.concatenate([p.segment_starts for p in parts]),
        offsets=offsets.astype(np.int64),
        frame_classes=parts[0].frame_classes,
        motion_classes=parts[0].motion_classes,
    )


def render_set(
    seeds: list[list[int]],
    plans: list[list[Segment]],
    size: tuple[int, int],
    *,
    jpeg_prob: float = 0.0,
    desc: str = "render",
) -> VideoSet:
    """Render one scene per seed with its segment plan, keeping only model-input frames."""
    total = sum(s.length for plan in plans for s in plan)
    images = np.empty((total, size[0], size[1], 3), np.uint8)
    frame_labels, motion_labels, centers, starts, offsets = [], [], [], [], [0]
    i = 0
    with tqdm(total=total, desc=desc, unit="frame", leave=False) as bar:
        for seed, plan in zip(seeds, plans, strict=True):
            scene = Scene(seed, plan, jpeg_prob=jpeg_prob)
            labels = scene.labels()
            for frame in scene.frames():
                images[i] = to_model_input(frame, size[0], size[1])
                i += 1
            bar.update(scene.length)
            frame_labels.append(labels.frame_labels)
            motion_labels.append(labels.motion_labels)
            centers.append(labels.centers)
            starts.append(labels.segment_starts)
            offsets.append(i)
    return VideoSet(
        images=images,
        frame_labels=np.concatenate(frame_labels),
        motion_labels=np.concatenate(motion_labels),
        centers=np.concatenate(centers),
        segment_starts=np.concatenate(starts),
        offsets=np.asarray(offsets, np.int64),
        frame_classes=FRAME_CLASSES,
        motion_classes=MOTIONS,
    )


def synthetic_streams(  # noqa: PLR0913  (a dataset is named by all of these)
    seed: int,
    split: int,
    count: int,
    length: int,
    size: tuple[int, int],
    *,
    segment_range: tuple[int, int] = (20, 80),
    jpeg_prob: float = 0.0,
) -> VideoSet:
    """``count`` continuous streams of ``length`` frames whose motion changes every 20-80 frames."""
    seeds = [[seed, split, i] for i in range(count)]
    plans = [random_segments(np.random.default_rng([seed, split, i, 1]), length, *segment_range) for i in range(count)]
    return render_set(seeds, plans, size, jpeg_prob=jpeg_prob, desc=f"scenes (split {split})")


def synthetic_clips(
    seed: int, split: int, count: int, length: int, size: tuple[int, int], *, jpeg_prob: float = 0.0
) -> VideoSet:
    """``count`` single-segment clips of ``length`` frames, classes and motions drawn uniformly."""
    seeds = [[seed, split, i] for i in range(count)]
    plans = []
    for i in range(count):
        rng = np.random.default_rng([seed, split, i, 1])
        motion = MOTIONS[i % len(MOTIONS)]
        shape = "empty" if motion == "none" else str(rng.choice(FRAME_CLASSES[1:]))
        plans.append([Segment(shape, motion, length)])
    return render_set(seeds, plans, size, jpeg_prob=jpeg_prob, desc=f"clips (split {split})")

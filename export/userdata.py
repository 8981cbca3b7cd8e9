"""A user's own footage as training data: ``DIR/<label>/*.mp4|avi|mkv``, labels from folder names.

Each clip is one segment whose frame label and motion label are both its folder's label. Unreadable
clips are skipped with a warning and counted; an empty class folder, fewer than two classes, or a
clip shorter than the sequence length is a DataError raised before any training starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from export.datasets import VideoSet, to_model_input
from export.errors import DataError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv")
MAX_FRAMES_PER_CLIP = 1500  # bounds memory: 1,500 frames at 96 x 72 is about 31 MB
HELDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class UserData:
    """The loaded folder: training and held-out sets, and how many clips were skipped."""

    train: VideoSet
    heldout: VideoSet
    skipped: int
    labels: tuple[str, ...]


def _read_clip(path: Path, size: tuple[int, int]) -> np.ndarray | None:
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        if not cap.isOpened():
            return None
        while len(frames) < MAX_FRAMES_PER_CLIP:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            frames.append(to_model_input(frame, size[0], size[1]))
    finally:
        cap.release()
    return np.stack(frames) if frames else None


def _as_set(clips: list[tuple[np.ndarray, int]], labels: tuple[str, ...]) -> VideoSet:
    lengths = [len(c) for c, _ in clips]
    label_per_frame = np.concatenate([np.full(len(c), lab, np.int64) for c, lab in clips])
    starts = np.zeros(sum(lengths), bool)
    offsets = np.cumsum([0, *lengths]).astype(np.int64)
    starts[offsets[:-1]] = True
    return VideoSet(
        images=np.concatenate([c for c, _ in clips]),
        frame_labels=label_per_frame,
        motion_labels=label_per_frame.copy(),
        centers=np.full((len(label_per_frame), 2), np.nan, np.float32),
        segment_starts=starts,
        offsets=offsets,
        frame_classes=labels,
        motion_classes=labels,
    )


def scan_folder(root: Path) -> dict[str, list[Path]]:
    """Class folders and their video files; raises DataError for a layout training cannot use."""
    if not root.is_dir():
        raise DataError(f"--data {root}: not a directory")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"--data {root}: needs at least 2 class folders (DIR/<label>/*.mp4), found {len(classes)}")
    found: dict[str, list[Path]] = {}
    for folder in classes:
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise DataError(f"--data {root}: class folder {folder.name!r} has no .mp4/.avi/.mkv clips")
        found[folder.name] = files
    return found


def load_folder(root: Path, size: tuple[int, int], seq_len: int, seed: int) -> UserData:
    """Read every clip at the model input size and split clips into training and held-out sets."""
    found = scan_folder(root)
    labels = tuple(found)
    skipped = 0
    per_class: dict[int, list[np.ndarray]] = {}
    for index, (label, files) in enumerate(found.items()):
        for path in files:
            clip = _read_clip(path, size)
            if clip is None:
                logger.warning("skipping unreadable clip %s", path)
                skipped += 1
                continue
            if len(clip) < seq_len:
                raise DataError(f"--data: clip {path} has {len(clip)} frames, fewer than the sequence length {seq_len}")
            per_class.setdefault(index, []).append(clip)
        if index not in per_class:
            raise DataError(f"--data {root}: no readable clip in class folder {label!r}")
    if skipped:
        logger.warning("skipped %d unreadable clip(s) under %s", skipped, root)
    rng = np.random.default_rng(seed)
    train: list[tuple[np.ndarray, int]] = []
    heldout: list[tuple[np.ndarray, int]] = []
    for index, clips in per_class.items():
        order = rng.permutation(len(clips))
        n_held = int(np.ceil(len(clips) * HELDOUT_FRACTION)) if len(clips) >= 2 else 0
        if n_held == 0:
            logger.warning("class %r has one clip: it is used for training only", labels[index])
        heldout += [(clips[i], index) for i in order[:n_held]]
        train += [(clips[i], index) for i in order[n_held:]]
    if not heldout:
        logger.warning("no class has two clips: held-out figures are measured on the training clips")
        heldout = train
    return UserData(train=_as_set(train, labels), heldout=_as_set(heldout, labels), skipped=skipped, labels=labels)

"""Accuracy figures shared by training (PyTorch) and ``evaluate`` (ONNX Runtime).

Sequences are run the way the daemon runs them: one step per frame, state carried from frame to
frame, zero state at the start of each clip.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from export.datasets import VideoSet

# (features [N, E], h [L, N, H]) -> (logits [N, K], h' [L, N, H])
StepFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    if len(labels) == 0:
        return float("nan")
    return float((logits.argmax(axis=1) == labels).mean() * 100.0)


def steps_into_segment(data: VideoSet) -> np.ndarray:
    """For each frame, how many frames have passed since its segment (or clip) began (0-based)."""
    since = np.zeros(len(data.frame_labels), np.int64)
    starts = data.segment_starts.copy()
    starts[data.offsets[:-1]] = True
    count = 0
    for i, start in enumerate(starts):
        count = 0 if start else count + 1
        since[i] = count
    return since


def keep_mask(data: VideoSet, drop_prob: float, seed: int) -> np.ndarray:
    """Frames a loaded daemon would process: each frame dropped with ``drop_prob``, first kept."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(data.frame_labels)) >= drop_prob
    keep[data.offsets[:-1]] = True
    return keep


def rollout(
    step: StepFn,
    embeddings: np.ndarray,
    data: VideoSet,
    state_shape: tuple[int, int],
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Sequence logits for every kept frame, all clips stepped side by side as one batch.

    Returns ``[F, K]`` in frame order; rows of dropped frames are NaN.
    """
    layers, hidden = state_shape
    if keep is None:
        keep = np.ones(len(embeddings), bool)
    clips = [np.flatnonzero(keep[data.clip(i)]) + data.offsets[i] for i in range(data.num_clips)]
    steps = max(len(c) for c in clips)
    n = len(clips)
    h = np.zeros((layers, n, hidden), np.float32)
    out: np.ndarray | None = None
    feats = np.zeros((n, embeddings.shape[1]), np.float32)
    for t in range(steps):
        rows = [c[t] if t < len(c) else -1 for c in clips]
        for j, r in enumerate(rows):
            feats[j] = embeddings[r] if r >= 0 else 0.0
        logits, h = step(feats, h)
        if out is None:
            out = np.full((len(embeddings), logits.shape[1]), np.nan, np.float32)
        for j, r in enumerate(rows):
            if r >= 0:
                out[r] = logits[j]
    if out is None:
        raise ValueError("no frames to roll out")
    return out


def sequence_accuracy(logits: np.ndarray, data: VideoSet, min_steps: int, keep: np.ndarray | None = None) -> float:
    """Accuracy over kept frames at least ``min_steps`` frames into their segment, in percent."""
    since = steps_into_segment(data)
    mask = since >= min_steps
    if keep is not None:
        mask &= keep
    return accuracy(logits[mask], data.motion_labels[mask])

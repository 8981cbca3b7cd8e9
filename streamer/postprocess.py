"""Model outputs -> typed answers: scored labels, detections in source pixels, embeddings.

Pure functions of one batch row each; the inference worker calls them after ``session.run``.
Detector formats are decoded in :mod:`streamer.detectors`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from streamer.detectors import DetectorParams, decode, label_of
from streamer.modelspec import Activation, DetectorFormat, ModelSpec
from streamer.records import Classification, Detection, Transform

FloatArray = npt.NDArray[np.float32]


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax, stable for large logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


def sigmoid(logits: FloatArray) -> FloatArray:
    """Element-wise logistic function, without overflow warnings for large negative logits."""
    out: FloatArray = (0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))).astype(np.float32)
    return out


def top_k(probs: FloatArray, labels: Sequence[str], k: int) -> tuple[Classification, ...]:
    """The ``k`` most probable labels of one row, best first."""
    k = min(k, probs.shape[-1])
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = idx[np.argsort(-probs[idx], kind="stable")]
    return tuple(Classification(label_of(labels, int(i)), round(float(probs[i]), 6)) for i in idx)


def above(probs: FloatArray, labels: Sequence[str], threshold: float) -> tuple[Classification, ...]:
    """Every label whose score is at least ``threshold``, best first (multi-label classifiers)."""
    idx = np.flatnonzero(probs >= threshold)
    idx = idx[np.argsort(-probs[idx], kind="stable")]
    return tuple(Classification(label_of(labels, int(i)), round(float(probs[i]), 6)) for i in idx)


def classify(logits: FloatArray, spec: ModelSpec, k: int, confidence: float) -> tuple[Classification, ...]:
    """One row of a classifier's output scored as its (resolved) activation says.

    ``softmax`` and ``none`` give the top ``k`` labels; ``sigmoid`` gives every label at or above
    ``confidence``. An activation the graph already applies is not applied again.
    """
    row = logits.astype(np.float32).reshape(-1)
    if spec.activation is Activation.SIGMOID:
        return above(row if spec.activation_in_graph else sigmoid(row), spec.labels, confidence)
    if spec.activation is Activation.NONE or spec.activation_in_graph:
        return top_k(row, spec.labels, k)
    return top_k(softmax(row), spec.labels, k)


def detect(
    raw: FloatArray, spec: ModelSpec, transform: Transform, src_size: tuple[int, int], params: DetectorParams
) -> tuple[Detection, ...]:
    """One row of a detector's output decoded in its (resolved) format."""
    fmt = spec.detector_format
    if fmt is DetectorFormat.AUTO:  # a spec not resolved at load: the daemon's original layout
        fmt = DetectorFormat.YOLOV8
    return decode(fmt, raw.astype(np.float32), spec.labels, transform=transform, src_size=src_size, params=params)


__all__ = ["DetectorParams", "above", "classify", "detect", "label_of", "sigmoid", "softmax", "top_k"]

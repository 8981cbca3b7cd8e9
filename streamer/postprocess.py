"""Model outputs -> typed answers: top-k labels, detections in source pixels, embeddings.

Pure functions of one batch row each; the inference worker calls them after ``session.run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from streamer.preprocess import to_source
from streamer.records import Classification, Detection, Transform

FloatArray = npt.NDArray[np.float32]


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax, stable for large logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


def top_k(probs: FloatArray, labels: Sequence[str], k: int) -> tuple[Classification, ...]:
    """The ``k`` most probable labels of one row, best first."""
    k = min(k, probs.shape[-1])
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = idx[np.argsort(-probs[idx], kind="stable")]
    return tuple(Classification(label_of(labels, int(i)), round(float(probs[i]), 6)) for i in idx)


def label_of(labels: Sequence[str], index: int) -> str:
    """The label for a class index, or ``class_<i>`` when the model has more classes than labels."""
    return labels[index] if index < len(labels) else f"class_{index}"


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds of the detector decode."""

    confidence: float = 0.25
    iou: float = 0.45
    max_detections: int = 100


def decode_yolo(
    raw: FloatArray,
    labels: Sequence[str],
    transform: Transform,
    src_size: tuple[int, int],
    params: DetectorParams,
) -> tuple[Detection, ...]:
    """Decode one YOLOv8-style output row ``[4 + C, A]`` (cx, cy, w, h, class scores) with NMS.

    NMS is class-aware (a person does not suppress the bicycle under them). Boxes come back in
    source pixels with the letterbox undone.
    """
    if raw.ndim != 2 or raw.shape[0] < 5:
        return ()
    preds = raw.T  # [A, 4 + C]
    scores_all = preds[:, 4:]
    classes = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(classes)), classes]
    keep = scores >= params.confidence
    if not keep.any():
        return ()
    boxes_c = preds[keep, :4]
    scores, classes = scores[keep], classes[keep]
    xywh = np.empty_like(boxes_c)
    xywh[:, 0] = boxes_c[:, 0] - boxes_c[:, 2] / 2
    xywh[:, 1] = boxes_c[:, 1] - boxes_c[:, 3] / 2
    xywh[:, 2:] = boxes_c[:, 2:]
    picked = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), scores.tolist(), classes.tolist(), params.confidence, params.iou
    )
    idx = np.asarray(picked, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-scores[idx], kind="stable")][: params.max_detections]
    if idx.size == 0:
        return ()
    xyxy = np.empty((idx.size, 4), dtype=np.float32)
    xyxy[:, :2] = xywh[idx, :2]
    xyxy[:, 2:] = xywh[idx, :2] + xywh[idx, 2:]
    src = to_source(xyxy, transform, src_size[0], src_size[1])
    return tuple(
        Detection(
            label=label_of(labels, int(classes[i])),
            score=round(float(scores[i]), 6),
            box=(
                round(float(b[0]), 2),
                round(float(b[1]), 2),
                round(float(b[2]), 2),
                round(float(b[3]), 2),
            ),
        )
        for i, b in zip(idx, src, strict=True)
    )

"""Detector outputs -> detections in source pixels, one decoder per output format.

=========  ===============  ==========================================================================
format     one row          meaning
=========  ===============  ==========================================================================
yolov8     ``[4 + C, A]``   per anchor column: cx, cy, w, h, then C class scores (already sigmoid)
yolov5     ``[A, 5 + C]``   per anchor row: cx, cy, w, h, objectness, C class probabilities;
                            score = objectness x class probability
nms        ``[K, 6]``       the graph already ran NMS: x1, y1, x2, y2, score, class index; rows
                            under ``confidence`` (the padding) are dropped
=========  ===============  ==========================================================================

Coordinates are model-input pixels; boxes come back in source pixels with the resize undone.
:func:`fit_format` names the format an output's shape fits, or says in one line why none does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from streamer.errors import ModelError
from streamer.modelspec import DetectorFormat
from streamer.preprocess import to_source
from streamer.records import Detection, Transform

FloatArray = npt.NDArray[np.float32]

LAYOUTS = {
    DetectorFormat.YOLOV8: "[N, 4 + C, A]",
    DetectorFormat.YOLOV5: "[N, A, 5 + C]",
    DetectorFormat.NMS: "[N, K, 6]",
}


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds of the detector decode."""

    confidence: float = 0.25
    iou: float = 0.45
    max_detections: int = 100


def label_of(labels: Sequence[str], index: int) -> str:
    """The label for a class index, or ``class_<i>`` when the model has more classes than labels."""
    return labels[index] if 0 <= index < len(labels) else f"class_{index}"


def _fits(fmt: DetectorFormat, shape: tuple[int, ...], classes: int) -> bool:
    if len(shape) != 3:
        return False
    _, rows, cols = shape
    if fmt is DetectorFormat.YOLOV8:
        return rows == 4 + classes and cols >= 1
    if fmt is DetectorFormat.YOLOV5:
        return cols == 5 + classes and rows >= 1
    return cols == 6 and rows >= 1


def _guess(shape: tuple[int, ...]) -> str:
    """What a shape that fits no format with the given labels looks like, for the error message."""
    if len(shape) == 3:
        _, rows, cols = shape
        if 4 < rows < cols:
            return f"; it looks like yolov8 with {rows - 4} classes: give {rows - 4} labels"
        if 5 < cols < rows:
            return f"; it looks like yolov5 with {cols - 5} classes: give {cols - 5} labels"
    return ""


def fit_format(
    configured: DetectorFormat, shape: tuple[int, ...], labels: int, *, graph_nms: bool, where: str, output: str
) -> DetectorFormat:
    """The format of a detector output of ``shape`` (at batch 1), or a ModelError saying what to set.

    ``graph_nms`` says the graph holds a NonMaxSuppression node: its output must then be ``nms``.
    """
    dims = list(shape)
    if configured is not DetectorFormat.AUTO:
        if not _fits(configured, shape, labels):
            if configured is not DetectorFormat.NMS and len(shape) == 3:
                found = shape[1] - 4 if configured is DetectorFormat.YOLOV8 else shape[2] - 5
                raise ModelError(
                    f"{where}.labels: output {output!r} {dims} as {configured} holds {found} classes but "
                    f"{labels} labels are given; set labels to the model's {found} class names"
                )
            raise ModelError(
                f"{where}.format: output {output!r} has shape {dims}, not {configured}'s "
                f"{LAYOUTS[configured]}; set format to the model's output layout"
            )
        return configured
    if graph_nms:
        if _fits(DetectorFormat.NMS, shape, labels):
            return DetectorFormat.NMS
        raise ModelError(
            f"{where}.format: the graph runs NonMaxSuppression but output {output!r} has shape {dims}, not "
            f"[N, K, 6] (x1, y1, x2, y2, score, class); export the model with NMS left out, or to that layout"
        )
    fitting = [f for f in LAYOUTS if _fits(f, shape, labels)]
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        names = " or ".join(f'"{f}"' for f in fitting)
        raise ModelError(f"{where}.format: output {output!r} {dims} fits {names}; set format to the right one")
    raise ModelError(
        f"{where}.format: output {output!r} has shape {dims}, which fits no detector format with {labels} "
        f"labels (yolov8 [N, 4 + C, A], yolov5 [N, A, 5 + C], nms [N, K, 6]){_guess(shape)}"
    )


def decode(
    fmt: DetectorFormat,
    raw: FloatArray,
    labels: Sequence[str],
    *,
    transform: Transform,
    src_size: tuple[int, int],
    params: DetectorParams,
) -> tuple[Detection, ...]:
    """Decode one batch row of a detector output in format ``fmt`` (never ``auto``)."""
    if raw.ndim != 2:
        return ()
    if fmt is DetectorFormat.NMS:
        return _decode_nms(raw, labels, transform=transform, src_size=src_size, params=params)
    if fmt is DetectorFormat.YOLOV5:
        preds = raw  # [A, 5 + C]
        scores_all = preds[:, 5:] * preds[:, 4:5]
    else:
        preds = raw.T  # [A, 4 + C]
        scores_all = preds[:, 4:]
    if scores_all.shape[1] == 0:
        return ()
    classes = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(classes)), classes]
    keep = scores >= params.confidence
    if not keep.any():
        return ()
    return _nms(
        preds[keep, :4], scores[keep], classes[keep], labels, transform=transform, src_size=src_size, params=params
    )


def _nms(  # noqa: PLR0913  (keyword-only geometry, passed straight through to _detections)
    cxcywh: FloatArray,
    scores: FloatArray,
    classes: npt.NDArray[np.int64],
    labels: Sequence[str],
    *,
    transform: Transform,
    src_size: tuple[int, int],
    params: DetectorParams,
) -> tuple[Detection, ...]:
    """Class-aware NMS (a person does not suppress the bicycle under them) of centre-size boxes."""
    xywh = np.empty_like(cxcywh)
    xywh[:, :2] = cxcywh[:, :2] - cxcywh[:, 2:] / 2
    xywh[:, 2:] = cxcywh[:, 2:]
    picked = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), params.confidence, params.iou)
    idx = np.asarray(picked, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-scores[idx], kind="stable")][: params.max_detections]
    xyxy = np.empty((idx.size, 4), dtype=np.float32)
    xyxy[:, :2] = xywh[idx, :2]
    xyxy[:, 2:] = xywh[idx, :2] + xywh[idx, 2:]
    return _detections(xyxy, scores[idx], classes[idx], labels, transform=transform, src_size=src_size)


def _decode_nms(
    raw: FloatArray, labels: Sequence[str], *, transform: Transform, src_size: tuple[int, int], params: DetectorParams
) -> tuple[Detection, ...]:
    if raw.shape[1] != 6:
        return ()
    rows = raw[raw[:, 4] >= params.confidence]
    rows = rows[np.argsort(-rows[:, 4], kind="stable")][: params.max_detections]
    classes = np.rint(rows[:, 5]).astype(np.int64)
    boxes = rows[:, :4].astype(np.float32)
    return _detections(boxes, rows[:, 4], classes, labels, transform=transform, src_size=src_size)


def _detections(
    xyxy: FloatArray,
    scores: FloatArray,
    classes: npt.NDArray[np.int64],
    labels: Sequence[str],
    *,
    transform: Transform,
    src_size: tuple[int, int],
) -> tuple[Detection, ...]:
    if xyxy.shape[0] == 0:
        return ()
    src = to_source(xyxy, transform, src_size[0], src_size[1])
    return tuple(
        Detection(
            label=label_of(labels, int(c)),
            score=round(float(s), 6),
            box=(round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2]), 2), round(float(b[3]), 2)),
        )
        for b, s, c in zip(src, scores, classes, strict=True)
    )

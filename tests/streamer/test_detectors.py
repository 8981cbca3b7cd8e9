"""Detector output formats: decode with class-aware NMS, boxes to source pixels, format fitting."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.detectors import DetectorParams, decode, fit_format
from streamer.errors import ModelError
from streamer.modelspec import DetectorFormat
from streamer.records import Transform

IDENTITY = Transform(1.0, 1.0, 0.0, 0.0)
V8, V5, NMS, AUTO = DetectorFormat.YOLOV8, DetectorFormat.YOLOV5, DetectorFormat.NMS, DetectorFormat.AUTO
Row = tuple[float, float, float, float, float, float]


def _v8(rows: list[Row]) -> np.ndarray:
    """Rows of (cx, cy, w, h, score_class0, score_class1) -> a yolov8 ``[6, A]`` row."""
    return np.array(rows, dtype=np.float32).T


def _v5(rows: list[Row], objectness: float) -> np.ndarray:
    """The same anchors as yolov5 ``[A, 7]``: class probabilities scaled so obj x cls = the score."""
    out = []
    for cx, cy, w, h, s0, s1 in rows:
        out.append((cx, cy, w, h, objectness, s0 / objectness, s1 / objectness))
    return np.array(out, dtype=np.float32)


CASES = [
    # Two overlapping boxes of one class: the weaker is suppressed (IoU ~0.68 > 0.45).
    ([(50, 50, 20, 20, 0.9, 0.0), (52, 52, 20, 20, 0.8, 0.0)], [("a", 0.9)]),
    # Same boxes, different classes: class-aware NMS keeps both.
    ([(50, 50, 20, 20, 0.9, 0.0), (52, 52, 20, 20, 0.0, 0.8)], [("a", 0.9), ("b", 0.8)]),
    # Far apart: both kept, best first.
    ([(10, 10, 10, 10, 0.5, 0.0), (80, 80, 10, 10, 0.7, 0.0)], [("a", 0.7), ("a", 0.5)]),
    # Below the confidence threshold: nothing.
    ([(10, 10, 10, 10, 0.1, 0.2)], []),
]


@pytest.mark.parametrize(("rows", "expected"), CASES)
@pytest.mark.parametrize("fmt", [V8, V5])
def test_nms(fmt: DetectorFormat, rows: list[Row], expected: list[tuple[str, float]]) -> None:
    raw = _v8(rows) if fmt is V8 else _v5(rows, objectness=0.95)
    dets = decode(fmt, raw, ["a", "b"], transform=IDENTITY, src_size=(100, 100), params=DetectorParams(0.25, 0.45, 10))
    assert [d.label for d in dets] == [label for label, _ in expected]
    assert [d.score for d in dets] == pytest.approx([score for _, score in expected], abs=1e-6)


def test_yolov5_score_is_objectness_times_class() -> None:
    raw = np.array([[50, 50, 20, 20, 0.5, 0.9, 0.1], [20, 20, 10, 10, 0.2, 1.0, 0.0]], dtype=np.float32)
    dets = decode(V5, raw, ["a", "b"], transform=IDENTITY, src_size=(100, 100), params=DetectorParams(0.25))
    # 0.5 x 0.9 = 0.45 kept; 0.2 x 1.0 = 0.2 under the threshold although its class probability is 1.
    assert [(d.label, d.score) for d in dets] == [("a", 0.45)]
    assert dets[0].box == (40.0, 40.0, 60.0, 60.0)


def test_nms_format_takes_rows_as_they_are() -> None:
    raw = np.array(
        [[10, 10, 30, 40, 0.6, 1], [12, 12, 32, 42, 0.9, 1], [0, 0, 0, 0, 0.0, 0]],  # the last row is padding
        dtype=np.float32,
    )
    # Overlapping boxes are both kept: the graph already ran NMS. Letterbox undone: scale 0.5, pad_y 40.
    t = Transform(0.5, 0.5, 0.0, 40.0)
    dets = decode(NMS, raw, ["a", "b"], transform=t, src_size=(640, 480), params=DetectorParams(0.25))
    assert [(d.label, d.score) for d in dets] == [("b", 0.9), ("b", 0.6)]
    assert dets[0].box == (24.0, 0.0, 64.0, 4.0)


@pytest.mark.parametrize("fmt", [V8, V5])
def test_boxes_come_back_in_source_pixels(fmt: DetectorFormat) -> None:
    # A 640x480 frame letterboxed into 320x320: scale 0.5, pad_y 40.
    rows: list[Row] = [(160, 160, 100, 60, 0.9, 0.0)]
    raw = _v8(rows) if fmt is V8 else _v5(rows, 1.0)
    t = Transform(0.5, 0.5, 0.0, 40.0)
    dets = decode(fmt, raw, ["a", "b"], transform=t, src_size=(640, 480), params=DetectorParams())
    assert dets[0].box == (220.0, 180.0, 420.0, 300.0)


def test_max_detections() -> None:
    rows: list[Row] = [(10 + 20 * i, 10, 10, 10, 0.5 + i / 100, 0.0) for i in range(5)]
    p = DetectorParams(max_detections=2)
    dets = decode(V8, _v8(rows), ["a", "b"], transform=IDENTITY, src_size=(200, 100), params=p)
    assert [d.score for d in dets] == [pytest.approx(0.54), pytest.approx(0.53)]


@pytest.mark.parametrize(
    ("configured", "shape", "labels", "nms", "expected"),
    [
        (AUTO, (1, 84, 8400), 80, False, V8),
        (AUTO, (1, 25200, 85), 80, False, V5),
        (AUTO, (1, 300, 6), 80, False, NMS),
        (AUTO, (1, 300, 6), 80, True, NMS),
        (AUTO, (1, 6, 3), 2, False, V8),  # few anchors: still only yolov8 fits 2 classes
        (V5, (1, 25200, 85), 80, False, V5),
        (NMS, (1, 100, 6), 1, False, NMS),
    ],
)
def test_fit_format(
    configured: DetectorFormat, shape: tuple[int, ...], labels: int, nms: bool, expected: DetectorFormat
) -> None:
    assert fit_format(configured, shape, labels, graph_nms=nms, where="models.d", output="out") is expected


@pytest.mark.parametrize(
    ("configured", "shape", "labels", "nms", "message"),
    [
        # A segmentation-style probability map configured as a detector.
        (AUTO, (1, 1, 736, 736), 1, False, "models.d.format: output 'out' has shape [1, 1, 736, 736], which fits no"),
        # 80 classes, 3 labels.
        (AUTO, (1, 84, 8400), 3, False, "it looks like yolov8 with 80 classes: give 80 labels"),
        (AUTO, (1, 25200, 85), 3, False, "it looks like yolov5 with 80 classes: give 80 labels"),
        (V8, (1, 84, 8400), 3, False, "models.d.labels: output 'out' [1, 84, 8400] as yolov8 holds 80 classes"),
        # A YOLOv5 output named yolov8 is not decoded as one.
        (V8, (1, 25200, 85), 80, False, "as yolov8 holds 25196 classes"),
        (NMS, (1, 84, 8400), 80, False, "models.d.format: output 'out' has shape [1, 84, 8400], not nms's"),
        # One class: [N, A, 6] is yolov5 or NMS output alike.
        (AUTO, (1, 300, 6), 1, False, 'fits "yolov5" or "nms"; set format'),
        (AUTO, (1, 84, 8400), 80, True, "the graph runs NonMaxSuppression but output 'out' has shape [1, 84, 8400]"),
    ],
)
def test_fit_format_refuses(
    configured: DetectorFormat, shape: tuple[int, ...], labels: int, nms: bool, message: str
) -> None:
    with pytest.raises(ModelError) as info:
        fit_format(configured, shape, labels, graph_nms=nms, where="models.d", output="out")
    assert message in str(info.value)
    assert "\n" not in str(info.value)

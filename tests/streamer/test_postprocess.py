"""Top-k and YOLO-style decode with class-aware NMS."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.postprocess import DetectorParams, decode_yolo, softmax, top_k
from streamer.records import Transform

IDENTITY = Transform(1.0, 1.0, 0.0, 0.0)


def test_softmax_is_stable_and_normalised() -> None:
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]], dtype=np.float32))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)


def test_top_k_orders_and_names() -> None:
    out = top_k(np.array([0.1, 0.6, 0.3], dtype=np.float32), ["a", "b"], 5)
    assert [c.label for c in out] == ["b", "class_2", "a"]
    assert out[0].score == pytest.approx(0.6)


def _anchors(rows: list[tuple[float, float, float, float, float, float]]) -> np.ndarray:
    """Rows of (cx, cy, w, h, score_class0, score_class1) -> a [6, A] output."""
    return np.array(rows, dtype=np.float32).T


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # Two overlapping boxes of one class: the weaker is suppressed (IoU ~0.68 > 0.45).
        ([(50, 50, 20, 20, 0.9, 0.0), (52, 52, 20, 20, 0.8, 0.0)], [("a", 0.9)]),
        # Same boxes, different classes: class-aware NMS keeps both.
        ([(50, 50, 20, 20, 0.9, 0.0), (52, 52, 20, 20, 0.0, 0.8)], [("a", 0.9), ("b", 0.8)]),
        # Far apart: both kept, best first.
        ([(10, 10, 10, 10, 0.5, 0.0), (80, 80, 10, 10, 0.7, 0.0)], [("a", 0.7), ("a", 0.5)]),
        # Below the confidence threshold: nothing.
        ([(10, 10, 10, 10, 0.1, 0.2)], []),
    ],
)
def test_nms(rows: list[tuple[float, float, float, float, float, float]], expected: list[tuple[str, float]]) -> None:
    dets = decode_yolo(_anchors(rows), ["a", "b"], IDENTITY, (100, 100), DetectorParams(0.25, 0.45, 10))
    assert [(d.label, pytest.approx(d.score)) for d in dets] == expected


def test_boxes_come_back_in_source_pixels() -> None:
    # A 640x480 frame letterboxed into 320x320: scale 0.5, pad_y 40.
    t = Transform(0.5, 0.5, 0.0, 40.0)
    dets = decode_yolo(_anchors([(160, 160, 100, 60, 0.9, 0.0)]), ["a", "b"], t, (640, 480), DetectorParams())
    assert dets[0].box == (220.0, 180.0, 420.0, 300.0)


def test_max_detections() -> None:
    rows = [(10 + 20 * i, 10, 10, 10, 0.5 + i / 100, 0.0) for i in range(5)]
    dets = decode_yolo(_anchors(rows), ["a", "b"], IDENTITY, (200, 100), DetectorParams(max_detections=2))
    assert [d.score for d in dets] == [pytest.approx(0.54), pytest.approx(0.53)]

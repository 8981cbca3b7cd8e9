"""ShapeDetector: the YOLOv8 output layout, the target assignment, a loss that learns, COCO mAP as scored."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from export.detection_eval import coco_map
from export.detector import STRIDE, DetectorConfig, ShapeDetector, anchor_points
from export.detector_loss import Targets, assign, detection_loss
from export.scenes_objects import ObjectTruth
from streamer.detectors import decode
from streamer.modelspec import DetectorFormat
from streamer.postprocess import DetectorParams
from streamer.records import Detection, Transform

CFG = DetectorConfig(num_classes=4, height=64, width=96)


def test_output_is_the_yolov8_layout_the_daemon_decodes() -> None:
    torch.manual_seed(0)
    net = ShapeDetector(CFG).eval()
    x = torch.randn(3, 3, CFG.height, CFG.width)
    with torch.no_grad():
        out = net(x)
        logits, ltrb = net.raw(x)
    assert out.shape == (3, 4 + 4, CFG.anchors) == (3, 8, (64 // STRIDE) * (96 // STRIDE))
    xyxy = net.boxes(ltrb)
    np.testing.assert_allclose(out[:, 0].numpy(), ((xyxy[..., 0] + xyxy[..., 2]) / 2).numpy(), rtol=1e-5)
    np.testing.assert_allclose(out[:, 3].numpy(), (xyxy[..., 3] - xyxy[..., 1]).numpy(), rtol=1e-5)
    np.testing.assert_allclose(out[:, 4:].numpy(), torch.sigmoid(logits).transpose(1, 2).numpy(), rtol=1e-5)
    # Anchors run row-major over the stride-8 map: anchor 13 of a 12-wide map is row 1, column 1.
    np.testing.assert_allclose(anchor_points(CFG)[13].numpy(), [12.0, 12.0])
    # Every anchor's box contains its own anchor point (side distances are positive).
    pts = anchor_points(CFG)
    assert bool(((xyxy[..., :2] <= pts) & (pts <= xyxy[..., 2:])).all())


def test_daemon_decode_reads_a_planted_detection() -> None:
    """An output row with one confident anchor decodes, through streamer's code, to that box in source pixels."""
    raw = np.zeros((8, CFG.anchors), np.float32)
    raw[:4, 13] = (12.0, 12.0, 10.0, 6.0)
    raw[4 + 2, 13] = 0.9
    t = Transform(96 / 320, 64 / 240, 0.0, 0.0)  # a stretch from 320 x 240
    labels = ["circle", "square", "triangle", "star"]
    (det,) = decode(DetectorFormat.YOLOV8, raw, labels, transform=t, src_size=(320, 240), params=DetectorParams())
    assert det.label == "triangle" and det.score == pytest.approx(0.9)
    assert det.box == pytest.approx((23.33, 33.75, 56.67, 56.25), abs=0.01)


def _targets(rows: list[list[tuple[float, float, float, float, int, bool]]]) -> Targets:
    m = max(1, *(len(r) for r in rows))
    boxes = torch.zeros(len(rows), m, 4)
    classes = torch.full((len(rows), m), -1, dtype=torch.int64)
    ignore = torch.zeros(len(rows), m, dtype=torch.bool)
    for b, row in enumerate(rows):
        for j, (x1, y1, x2, y2, c, ign) in enumerate(row):
            boxes[b, j] = torch.tensor([x1, y1, x2, y2])
            classes[b, j], ignore[b, j] = c, ign
    return Targets(boxes, classes, ignore)


def test_assignment_centre_sampling_smallest_wins_ignore_and_tiny_objects() -> None:
    pts = anchor_points(CFG)
    big = (8.0, 8.0, 88.0, 56.0, 0, False)  # most of the map
    small = (40.0, 24.0, 56.0, 40.0, 1, False)  # inside the big one
    hidden = (0.0, 40.0, 16.0, 64.0, 2, True)  # an ignore region in a corner
    tiny = (61.0, 9.0, 66.0, 14.0, 3, False)  # smaller than a stride, between anchor points
    positive, gt, ignored = assign(pts, _targets([[big, small, hidden, tiny]]))
    pos = positive[0].nonzero().flatten().tolist()
    for a in pos:
        x, y = pts[a].tolist()
        j = int(gt[0, a])
        x1, y1, x2, y2 = ([big, small, hidden, tiny][j])[:4]
        assert j != 2 and (j == 3 or (x1 < x < x2 and y1 < y < y2))
    # Inside the small box the small object wins; the tiny one gets exactly its nearest anchor.
    assert {int(gt[0, a]) for a in pos if 40 < pts[a, 0] < 56 and 24 < pts[a, 1] < 40} == {1}
    assert [a for a in pos if int(gt[0, a]) == 3] == [int(((pts - torch.tensor([63.5, 11.5])) ** 2).sum(1).argmin())]
    # Far from the big box's centre (beyond 2.5 strides) its anchors are not positives.
    assert not any(int(gt[0, a]) == 0 and abs(float(pts[a, 0]) - 48) > 20 for a in pos)
    corner = [a for a in range(CFG.anchors) if pts[a, 0] < 16 and pts[a, 1] > 40]
    assert corner and all(bool(ignored[0, a]) and not bool(positive[0, a]) for a in corner)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors: more threads only wait on each other (and on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_loss_learns_a_fixed_batch() -> None:
    torch.manual_seed(0)
    net = ShapeDetector(CFG)
    x = torch.randn(4, 3, CFG.height, CFG.width)
    t = _targets(
        [
            [(10, 10, 40, 40, 0, False)],
            [(50, 20, 90, 60, 1, False), (5, 5, 20, 20, 2, False)],
            [],
            [(30, 8, 70, 50, 3, False), (0, 0, 10, 10, 0, True)],
        ]
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        logits, ltrb = net.raw(x)
        loss, parts = detection_loss(logits, net.boxes(ltrb), net.points, t)  # type: ignore[arg-type]
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert parts["iou"] > 0.5


def _truth(box: tuple[float, float, float, float], label: str = "circle", vis: float = 1.0) -> ObjectTruth:
    return ObjectTruth(id=1, label=label, box=box, visibility=vis, motion="still")


def _det(box: tuple[float, float, float, float], label: str = "circle", score: float = 0.9) -> Detection:
    return Detection(label=label, score=score, box=box)


LABELS = ["circle", "square", "triangle", "star"]


def test_coco_map_perfect_shifted_missing_and_ignored() -> None:
    truths = [(_truth((10, 10, 50, 50)),), (_truth((100, 60, 140, 90), "star"),)]
    perfect = [(_det((10, 10, 50, 50)),), (_det((100, 60, 140, 90), "star"),)]
    assert coco_map(truths, perfect, LABELS, (320, 240)).map50 == pytest.approx(1.0)
    assert coco_map(truths, perfect, LABELS, (320, 240)).map50_95 == pytest.approx(1.0)
    # Boxes off by 6 px: still hits at IoU 0.5, misses at the strict thresholds.
    shifted = [(_det((16, 16, 56, 56)),), (_det((106, 60, 146, 90), "star"),)]
    m = coco_map(truths, shifted, LABELS, (320, 240))
    assert m.map50 == pytest.approx(1.0) and 0.1 < m.map50_95 < 0.8
    # The wrong class is a miss; no detections at all score zero.
    assert coco_map(truths, [(_det((10, 10, 50, 50), "square"),), ()], LABELS, (320, 240)).map50 < 0.01
    assert coco_map(truths, [(), ()], LABELS, (320, 240)).map50 == 0.0
    # A detection on a mostly hidden object (an iscrowd region) is not a false alarm.
    hidden = [(*truths[0], _truth((200, 100, 240, 140), vis=0.1)), truths[1]]
    with_hidden = [(*perfect[0], _det((200, 100, 240, 140), score=0.95)), perfect[1]]
    assert coco_map(hidden, with_hidden, LABELS, (320, 240)).map50 == pytest.approx(1.0)
    # The same detection where nothing is, and scored above the real ones, lowers precision.
    false_alarm = [(*perfect[0], _det((200, 100, 240, 140), score=0.95)), perfect[1]]
    assert coco_map(truths, false_alarm, LABELS, (320, 240)).map50 < 0.99

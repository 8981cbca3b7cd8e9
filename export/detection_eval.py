"""Detection mAP the way the COCO tools compute it, on detections decoded by the daemon's own code.

Camera frames go through :class:`streamer.preprocess.Preprocessor` (the daemon's), the model runs
(ONNX Runtime, or PyTorch during training), each output row goes through
:func:`streamer.detectors.decode` in the YOLOv8 layout (the daemon's decode and class-aware NMS, boxes back in
source pixels), and pycocotools' ``COCOeval`` scores them against the ground truth. Mostly hidden
objects are ``iscrowd`` regions: a detection on one is neither a hit nor a false alarm.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from export.object_data import MIN_VISIBILITY
from export.scenes_objects import ObjectTruth
from streamer.detectors import decode
from streamer.modelspec import DetectorFormat, InputSpec
from streamer.postprocess import DetectorParams
from streamer.preprocess import Preprocessor
from streamer.records import Detection, Transform

# Standard mAP practice: a low score floor so the whole precision-recall curve is seen; NMS IoU is
# the daemon's default, so the figure is what a deployment with default settings gets.
EVAL_PARAMS = DetectorParams(confidence=0.001, iou=0.45, max_detections=100)

RunFn = Callable[[np.ndarray], np.ndarray]  # model input batch -> [N, 4 + C, A]


@dataclass(frozen=True)
class MapFigures:
    """COCO bbox mAP at IoU 0.5 and averaged over 0.5:0.95 (both 0..1)."""

    map50: float
    map50_95: float


def detect(
    run: RunFn,
    frames: Iterable[np.ndarray],
    spec: InputSpec,
    labels: Sequence[str],
    *,
    params: DetectorParams = EVAL_PARAMS,
    batch: int = 32,
) -> list[tuple[Detection, ...]]:
    """Detections of every BGR camera frame, through the daemon's preprocess and decode."""
    prep = Preprocessor(spec)
    out: list[tuple[Detection, ...]] = []
    pending: list[tuple[np.ndarray, Transform, tuple[int, int]]] = []

    def flush() -> None:
        raw = run(np.stack([p[0] for p in pending]))
        for row, (_, transform, size) in zip(raw, pending, strict=True):
            yolo = row.astype(np.float32)
            out.append(decode(DetectorFormat.YOLOV8, yolo, labels, transform=transform, src_size=size, params=params))
        pending.clear()

    for image in frames:
        buf = prep.buffer()
        transform = prep(image, buf)
        pending.append((buf, transform, (image.shape[1], image.shape[0])))
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    return out


def coco_map(
    truths: Sequence[Sequence[ObjectTruth]],
    detections: Sequence[Sequence[Detection]],
    labels: Sequence[str],
    camera_size: tuple[int, int],
) -> MapFigures:
    """pycocotools bbox mAP of ``detections`` against ``truths`` (frame by frame, source pixels)."""
    if len(truths) != len(detections):
        raise ValueError("one list of detections per frame of ground truth")
    width, height = camera_size
    cats = {name: k + 1 for k, name in enumerate(labels)}
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, (gts, dets) in enumerate(zip(truths, detections, strict=True), start=1):
        images.append({"id": i, "width": width, "height": height})
        for gt in gts:
            x1, y1, x2, y2 = gt.box
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cats[gt.label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": int(gt.visibility < MIN_VISIBILITY),
                }
            )
        for det in dets:
            x1, y1, x2, y2 = det.box
            if det.label in cats:
                bbox = [x1, y1, x2 - x1, y2 - y1]
                results.append({"image_id": i, "category_id": cats[det.label], "bbox": bbox, "score": det.score})
    if not any(a["iscrowd"] == 0 for a in anns):
        raise ValueError("no ground-truth objects to score against")
    if not results:
        return MapFigures(0.0, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # COCO's tools print their progress
        gt_api = COCO()
        gt_api.dataset = {
            "images": images,
            "annotations": anns,
            "categories": [{"id": k, "name": n} for n, k in cats.items()],
        }
        gt_api.createIndex()
        coco_eval = COCOeval(gt_api, gt_api.loadRes(results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return MapFigures(map50=float(coco_eval.stats[1]), map50_95=float(coco_eval.stats[0]))

"""ONNX export of ShapeDetector: one self-describing file (kind=detector, labels, input spec, outputs).

The output ``boxes`` is ``[N, 4 + C, A]`` float32, the YOLOv8 layout: rows cx, cy, w, h in input
pixels, then C sigmoid class scores; the batch axis is dynamic. The daemon needs only the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from export.datasets import MEAN, SPLIT_OBJECTS_CALIBRATION, STD
from export.object_data import render_detection_set
from export.onnx_io import _to_onnx, finish, producer
from export.quantize import quantize_convs
from export.train_detector import TrainedDetector
from streamer.modelspec import InputSpec, ModelSpec

DETECTOR_ONNX = "detector.onnx"
DETECTOR_INT8 = "detector.int8.onnx"
CALIBRATION_CLIPS = 48


def detector_spec(det: TrainedDetector) -> ModelSpec:
    """What the daemon needs to feed the detector and decode it."""
    cfg = det.net.cfg
    return ModelSpec(
        kind="detector",
        labels=det.labels,
        input=InputSpec(
            name="image",
            height=cfg.height,
            width=cfg.width,
            layout="NCHW",
            color_order="RGB",
            mean=MEAN,
            std=STD,
            resize="stretch",
            dtype="float32",
        ),
        outputs={"boxes": "boxes"},
        producer=producer(),
    )


def export_detector(det: TrainedDetector, out_dir: Path) -> Path:
    """Write ``detector.onnx``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = det.net.cfg
    path = out_dir / DETECTOR_ONNX
    model = _to_onnx(
        det.net.eval(),
        (torch.zeros(1, 3, cfg.height, cfg.width),),
        path,
        (["image"], ["boxes"]),
        {"image": {0: "N"}, "boxes": {0: "N"}},
    )
    finish(model, detector_spec(det), path)
    return path


def calibration_frames(det: TrainedDetector) -> np.ndarray:
    """uint8 RGB model-input frames for int8 calibration (their own split, never trained or scored on)."""
    cfg = det.config
    seeds = [[cfg.seed, SPLIT_OBJECTS_CALIBRATION, i] for i in range(CALIBRATION_CLIPS)]
    data = render_detection_set(
        seeds, cfg.clip_length, (cfg.input_height, cfg.input_width), frames_per_clip=4, jpeg_prob=cfg.jpeg_prob
    )
    return data.images


def quantize_detector(det: TrainedDetector, out_dir: Path) -> Path:
    """Write ``detector.int8.onnx`` beside the fp32 file (output convs kept fp32)."""
    return quantize_convs(
        out_dir / DETECTOR_ONNX, out_dir / DETECTOR_INT8, calibration_frames(det), keep_fp32_channels=len(det.labels)
    )

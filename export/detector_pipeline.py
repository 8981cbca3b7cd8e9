"""The steps behind ``train-detector``, ``export-detector`` and ``objects-demo``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from export.detector_figures import map_figures
from export.detector_onnx import DETECTOR_INT8, DETECTOR_ONNX, detector_spec, export_detector, quantize_detector
from export.manifest import write_manifest
from export.objects_demo import OBJECTS_CLIP, OBJECTS_LABELS, write_objects_demo
from export.pipeline import refuse_overwrite
from export.scenes import OBJECT_CLASSES
from export.train_detector import (
    DETECTOR_CHECKPOINT,
    DetectorTrainConfig,
    TrainedDetector,
    load_detector,
    save_detector,
    timed_training,
)

logger = logging.getLogger(__name__)


def run_train_detector(cfg: DetectorTrainConfig, model_dir: Path, force: bool) -> dict[str, float]:
    """Train, score the PyTorch model on the held-out clips, save ``detector.pt``; returns the figures."""
    refuse_overwrite(model_dir, [DETECTOR_CHECKPOINT], force)
    net, seconds = timed_training(cfg)
    det = TrainedDetector(net=net, labels=OBJECT_CLASSES, config=cfg, figures={})

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out: np.ndarray = net(torch.from_numpy(x)).numpy()
        return out

    map50, map50_95 = map_figures(run, detector_spec(det), cfg)
    figures = {"detection_map50": map50, "detection_map50_95": map50_95, "train_seconds": round(seconds, 1)}
    save_detector(TrainedDetector(net, OBJECT_CLASSES, cfg, figures), model_dir)
    return figures


def run_export_detector(model_dir: Path, int8: bool, force: bool, demo: bool = True) -> list[Path]:
    """``detector.onnx`` (and int8), the objects demo clip and its labels, then the manifest."""
    names = [DETECTOR_ONNX] + ([DETECTOR_INT8] if int8 else []) + ([OBJECTS_CLIP, OBJECTS_LABELS] if demo else [])
    refuse_overwrite(model_dir, names, force)
    det = load_detector(model_dir)
    paths = [export_detector(det, model_dir)]
    if int8:
        paths.append(quantize_detector(det, model_dir))
    if demo:
        paths.extend(write_objects_demo(model_dir, det.config.seed))
    paths.append(write_manifest(model_dir))
    return paths


def run_objects_demo(model_dir: Path, seed: int, force: bool) -> list[Path]:
    """(Re)write only the objects demo clip and its labels, then the manifest."""
    refuse_overwrite(model_dir, [OBJECTS_CLIP, OBJECTS_LABELS], force)
    paths = list(write_objects_demo(model_dir, seed))
    paths.append(write_manifest(model_dir))
    return paths

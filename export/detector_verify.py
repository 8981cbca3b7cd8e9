"""Parity of ``detector.onnx`` with its PyTorch checkpoint, plus its metadata and the manifest.

The output is compared in two parts, because they live on different scales: the box rows (input
pixels, up to the input width) by their difference relative to the input size, the score rows
(0..1) by their absolute difference. Both are held to the same tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from export.datasets import SPLIT_OBJECTS_HELDOUT, normalise
from export.detector_onnx import DETECTOR_ONNX, detector_spec
from export.errors import DataError
from export.manifest import check_manifest
from export.object_data import render_detection_set
from export.onnx_io import read_spec
from export.ort_run import session
from export.train_detector import TrainedDetector, load_detector
from export.verify import BIG_BATCH, OutputParity, ParityReport


def _rows(name: str, case: str, ref: np.ndarray, got: np.ndarray, scale: float) -> list[OutputParity]:
    out = []
    for part, sl, unit in (("boxes[:4]", slice(0, 4), scale), ("boxes[4:]", slice(4, None), 1.0)):
        diff = np.abs(ref[:, sl].astype(np.float64) - got[:, sl].astype(np.float64)) / unit
        peak = max(float(np.abs(ref[:, sl]).max()) / unit, 1e-12)
        out.append(OutputParity(name, part, case, str(got.dtype), float(diff.max()), float(diff.max()) / peak))
    return out


def detector_frames(det: TrainedDetector, count: int) -> np.ndarray:
    """Normalised held-out model inputs ``[count, 3, h, w]``."""
    cfg = det.config
    seeds = [[cfg.seed, SPLIT_OBJECTS_HELDOUT, i] for i in range(count)]
    data = render_detection_set(seeds, 30, (cfg.input_height, cfg.input_width), frames_per_clip=1)
    return normalise(data.images)


def check_detector_parity(model_dir: Path, tolerance: float = 1e-4) -> ParityReport:
    """Compare ``detector.onnx`` with ``detector.pt`` at batch 1 and 16 on held-out frames."""
    path = model_dir / DETECTOR_ONNX
    if not path.is_file():
        raise DataError(f"{path}: missing (run `streamer-export export-detector` first)")
    det = load_detector(model_dir)
    torch.set_num_threads(det.config.threads)
    x = detector_frames(det, BIG_BATCH)
    with torch.no_grad():
        ref = det.net(torch.from_numpy(x)).numpy()
    sess = session(path)
    scale = float(max(det.net.cfg.height, det.net.cfg.width))
    rows: list[OutputParity] = []
    for case, sl in (("batch 1", slice(0, 1)), (f"batch {BIG_BATCH}", slice(0, BIG_BATCH))):
        (got,) = sess.run(["boxes"], {"image": x[sl]})
        rows += _rows(path.name, case, ref[sl], got, scale)
    problems = []
    want = detector_spec(det).to_metadata() | {"producer": ""}
    if read_spec(path).to_metadata() | {"producer": ""} != want:
        problems.append(f"{DETECTOR_ONNX}: metadata does not match its checkpoint")
    problems += check_manifest(model_dir)
    return ParityReport(rows=tuple(rows), problems=tuple(problems), tolerance=tolerance)

"""Held-out figures of the exported detector through ONNX Runtime and the daemon's decode.

``detection_map50`` and ``detection_map50_95`` come from pycocotools on held-out generated clips
(every frame of each clip); the same for the int8 file when there is one, for the bundled demo clip
decoded from its H.264 file, and CPU milliseconds per frame at batch 1 and 8.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from export.bench import ms_per_frame
from export.datasets import SPLIT_OBJECTS_HELDOUT
from export.detection_eval import EVAL_PARAMS, RunFn, coco_map, detect
from export.detector_onnx import DETECTOR_INT8, DETECTOR_ONNX
from export.objects_demo import OBJECTS_CLIP, OBJECTS_LABELS, decode_frames, read_objects_truth
from export.onnx_io import read_spec
from export.ort_run import session
from export.scenes_objects import MAX_OBJECTS, ObjectScene, ObjectTruth
from export.train_detector import DetectorTrainConfig, detector_config
from streamer.modelspec import ModelSpec

HELDOUT_SEED_BASE = 1000  # held-out clip i is seed [seed, SPLIT_OBJECTS_HELDOUT, 1000 + i]


def heldout_scene(cfg: DetectorTrainConfig, i: int) -> ObjectScene:
    """Held-out clip ``i``; it starts with ``i`` mod 9 objects, so every crowd size from empty to full is scored."""
    seed = [cfg.seed, SPLIT_OBJECTS_HELDOUT, HELDOUT_SEED_BASE + i]
    return ObjectScene(seed, cfg.heldout_length, initial=i % (MAX_OBJECTS + 1))


class HeldoutClips:
    """The held-out clips, rendered lazily (camera frames are large); ``truths`` fill as frames go by."""

    def __init__(self, cfg: DetectorTrainConfig) -> None:
        self.cfg = cfg
        self.truths: list[tuple[ObjectTruth, ...]] = []
        self.camera_size = (0, 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        self.truths = []
        for i in range(self.cfg.heldout_clips):
            scene = heldout_scene(self.cfg, i)
            self.camera_size = (scene.width, scene.height)
            for frame in scene.frames():
                self.truths.append(frame.objects)
                yield frame.image


def onnx_runner(path: Path) -> RunFn:
    """A batch runner for the detector file at ``path`` (CPU, 2 threads, like the other figures)."""
    sess = session(path)

    def run(x: np.ndarray) -> np.ndarray:
        (out,) = sess.run(["boxes"], {"image": x})
        result: np.ndarray = out
        return result

    return run


def map_figures(run: RunFn, spec: ModelSpec, cfg: DetectorTrainConfig) -> tuple[float, float]:
    """(mAP@0.5, mAP@0.5:0.95) on the held-out clips."""
    if spec.input is None:
        raise ValueError("detector without an input spec")
    clips = HeldoutClips(cfg)
    dets = detect(run, clips, spec.input, spec.labels)
    m = coco_map(clips.truths, dets, spec.labels, clips.camera_size)
    return round(m.map50, 4), round(m.map50_95, 4)


def _demo_figures(model_dir: Path, run: RunFn, spec: ModelSpec) -> dict[str, float]:
    clip, labels = model_dir / OBJECTS_CLIP, model_dir / OBJECTS_LABELS
    if not (clip.is_file() and labels.is_file()) or spec.input is None:
        return {}
    truths = read_objects_truth(labels)
    frames = decode_frames(clip)
    if len(frames) != len(truths):
        raise ValueError(f"{clip}: {len(frames)} frames decoded, {labels} describes {len(truths)}")
    dets = detect(run, frames, spec.input, spec.labels)
    m = coco_map(truths, dets, spec.labels, (frames[0].shape[1], frames[0].shape[0]))
    return {"demo_detection_map50": round(m.map50, 4), "demo_detection_map50_95": round(m.map50_95, 4)}


def detector_figures(model_dir: Path) -> dict[str, Any]:
    """All detector figures as a flat JSON-able dict (empty when there is no ``detector.onnx``)."""
    fp32 = model_dir / DETECTOR_ONNX
    if not fp32.is_file():
        return {}
    cfg = detector_config(model_dir)
    spec = read_spec(fp32)
    figures: dict[str, Any] = {}
    run = onnx_runner(fp32)
    figures["detection_map50"], figures["detection_map50_95"] = map_figures(run, spec, cfg)
    paths = [fp32]
    int8 = model_dir / DETECTOR_INT8
    if int8.is_file():
        figures["detection_map50_int8"], figures["detection_map50_95_int8"] = map_figures(onnx_runner(int8), spec, cfg)
        paths.append(int8)
    figures.update(_demo_figures(model_dir, run, spec))
    if spec.input is not None:
        for batch in (1, 8):
            x = np.random.default_rng(0).normal(0, 1, size=spec.input.shape(batch)).astype(np.float32)
            speeds = ms_per_frame(paths, x)
            figures[f"detector_ms_per_frame_fp32_b{batch}"] = round(speeds[0], 4)
            if len(speeds) > 1:
                figures[f"detector_ms_per_frame_int8_b{batch}"] = round(speeds[1], 4)
    figures["detection_heldout"] = {
        "clips": cfg.heldout_clips,
        "frames": cfg.heldout_clips * cfg.heldout_length,
        "seed": cfg.seed,
        "confidence": EVAL_PARAMS.confidence,
        "nms_iou": EVAL_PARAMS.iou,
        "tool": "pycocotools COCOeval (bbox)",
    }
    return figures

"""Held-out figures of the exported models, run through ONNX Runtime the way the daemon runs them.

The detector's figures come from :mod:`export.detector_figures`, its tracking figures from
:mod:`export.tracking_eval`, the per-object motion accuracy from :mod:`export.object_sequence_eval`.

Frames are preprocessed like the daemon's, the CNN runs in ONNX Runtime and its embeddings feed
the GRU one step per frame with the state carried between steps. fp32 and int8 are measured in the
same run (accuracy and CPU speed).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from export.bench import ms_per_frame, ms_per_step
from export.checkpoint import FRAME_CHECKPOINT, load_pair
from export.datasets import VideoSet, normalise, to_model_input
from export.demo_objects_eval import demo_object_figures
from export.detector_figures import detector_figures
from export.detector_onnx import DETECTOR_ONNX
from export.metrics import accuracy, keep_mask, rollout, sequence_accuracy
from export.object_sequence_eval import object_sequence_figures
from export.onnx_io import FRAME_INT8, FRAME_ONNX, SEQUENCE_INT8, SEQUENCE_ONNX, read_spec
from export.ort_run import run_frames, session, step_fn
from export.sources import HeldOut, heldout_sets
from export.tracking_eval import detector_tracking_figures
from export.verify import check_parity

DROP_PROB = 0.1


def _frames(sess: ort.InferenceSession, images: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    parts = [run_frames(sess, normalise(images[i : i + batch])) for i in range(0, len(images), batch)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _accuracies(
    cnn: ort.InferenceSession, gru: ort.InferenceSession, held: HeldOut, seq_len: int, state: tuple[int, int]
) -> dict[str, float]:
    step = step_fn(gru)
    s_logits, s_emb = _frames(cnn, held.streams.images)
    c_logits, c_emb = _frames(cnn, held.clips.images)
    labels = np.concatenate([held.streams.frame_labels, held.clips.frame_labels])
    out = {"frame_accuracy": accuracy(np.concatenate([s_logits, c_logits]), labels)}
    clip_seq = rollout(step, c_emb, held.clips, state)
    out["sequence_accuracy"] = sequence_accuracy(clip_seq, held.clips, seq_len - 1)
    stream_seq = rollout(step, s_emb, held.streams, state)
    out["stream_accuracy"] = sequence_accuracy(stream_seq, held.streams, seq_len - 1)
    keep = keep_mask(held.streams, DROP_PROB, seed=7)
    dropped = rollout(step, s_emb, held.streams, state, keep)
    out["stream_accuracy_dropped_frames"] = sequence_accuracy(dropped, held.streams, seq_len - 1, keep)
    return {k: round(v, 2) for k, v in out.items()}


def _demo_set(
    model_dir: Path, frame_classes: tuple[str, ...], motions: tuple[str, ...], size: tuple[int, int]
) -> VideoSet | None:
    clip, meta_path = model_dir / "demo.mp4", model_dir / "demo.json"
    if not (clip.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    cap = cv2.VideoCapture(str(clip))
    images = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        images.append(to_model_input(frame, *size))
    cap.release()
    n = len(images)
    frame_labels = np.zeros(n, np.int64)
    motion_labels = np.zeros(n, np.int64)
    starts = np.zeros(n, bool)
    for seg in meta["segments"]:
        a, b = seg["start"], min(seg["end"], n)
        frame_labels[a:b] = frame_classes.index(seg["frame_class"])
        motion_labels[a:b] = motions.index(seg["motion"])
        starts[a] = a < n
    return VideoSet(
        images=np.stack(images),
        frame_labels=frame_labels,
        motion_labels=motion_labels,
        centers=np.full((n, 2), np.nan, np.float32),
        segment_starts=starts,
        offsets=np.array([0, n], np.int64),
        frame_classes=frame_classes,
        motion_classes=motions,
    )


def evaluate(model_dir: Path, data: Path | None = None) -> dict[str, Any]:
    """All figures as one flat JSON-able dict: the frame/sequence pair's, then the detector's.

    Either set of models may be absent (not both); a ``--data`` folder holds no boxes, so with one
    only the pair is evaluated.
    """
    has_pair = (model_dir / FRAME_CHECKPOINT).is_file()
    has_detector = (model_dir / DETECTOR_ONNX).is_file() and data is None
    figures = _pair_figures(model_dir, data) if has_pair or not has_detector else {}
    if has_detector:
        figures.update(detector_figures(model_dir))
        figures.update(detector_tracking_figures(model_dir))
        figures.update(object_sequence_figures(model_dir))
        figures.update(demo_object_figures(model_dir))
    return figures


def _pair_figures(model_dir: Path, data: Path | None) -> dict[str, Any]:
    pair = load_pair(model_dir)
    cfg = pair.config if data is None else replace(pair.config, data=data)
    state = (pair.sequence.cfg.num_layers, pair.sequence.cfg.hidden_size)
    held = heldout_sets(cfg)
    cnn, gru = session(model_dir / FRAME_ONNX), session(model_dir / SEQUENCE_ONNX)
    figures: dict[str, Any] = dict(_accuracies(cnn, gru, held, cfg.seq_len, state))
    int8_path = model_dir / FRAME_INT8
    paths = [model_dir / FRAME_ONNX]
    if int8_path.is_file():
        int8 = _accuracies(session(int8_path), gru, held, cfg.seq_len, state)
        figures.update({f"{k}_int8": v for k, v in int8.items()})
        paths.append(int8_path)
    figures["parity_max_abs_diff"] = float(f"{check_parity(model_dir).max_abs:.3g}")
    figures["sizes_bytes"] = {
        p.name: p.stat().st_size
        for p in (model_dir / n for n in (FRAME_ONNX, SEQUENCE_ONNX, FRAME_INT8, SEQUENCE_INT8))
        if p.is_file()
    }
    spec = read_spec(model_dir / FRAME_ONNX)
    size = (spec.input.height, spec.input.width) if spec.input else (cfg.input_height, cfg.input_width)
    for batch in (1, 8):
        x = normalise(held.clips.images[:batch])
        speeds = ms_per_frame(paths, x)
        figures[f"ms_per_frame_fp32_b{batch}"] = round(speeds[0], 4)
        if len(speeds) > 1:
            figures[f"ms_per_frame_int8_b{batch}"] = round(speeds[1], 4)
            figures[f"int8_speedup_b{batch}"] = round(speeds[0] / speeds[1], 2)
    figures["gru_ms_per_step"] = round(
        ms_per_step(model_dir / SEQUENCE_ONNX, pair.sequence.cfg.feature_size, *state), 4
    )
    demo = _demo_set(model_dir, pair.frame_classes, pair.motion_classes, size) if data is None else None
    if demo is not None:
        d_logits, d_emb = _frames(cnn, demo.images)
        figures["demo_frame_accuracy"] = round(accuracy(d_logits, demo.frame_labels), 2)
        d_seq = rollout(step_fn(gru), d_emb, demo, state)
        figures["demo_sequence_accuracy"] = round(sequence_accuracy(d_seq, demo, cfg.seq_len - 1), 2)
    figures["heldout"] = {
        "frames": len(held.streams.images) + len(held.clips.images),
        "streams": held.streams.num_clips,
        "clips": held.clips.num_clips,
        "seed": cfg.seed,
    }
    figures["machine"] = {"cpus": os.cpu_count(), "threads": 2, "onnxruntime": ort.__version__}
    return figures


def format_figures(fig: dict[str, Any]) -> str:
    """A short human-readable summary."""
    lines = []
    for key, value in fig.items():
        text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        lines.append(f"{key:<40} {text}")
    return "\n".join(lines)

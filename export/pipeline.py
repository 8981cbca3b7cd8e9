"""The steps behind each ``streamer-export`` command, composed from the modules below it."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.checkpoint import FRAME_CHECKPOINT, SEQUENCE_CHECKPOINT, TrainedPair, load_pair, save_pair
from export.config import TrainConfig
from export.datasets import SPLIT_CALIBRATION, synthetic_clips
from export.demo import DEMO_CLIP, DEMO_LABELS, write_demo
from export.errors import DataError
from export.manifest import write_manifest
from export.metrics import StepFn, accuracy, keep_mask, rollout, sequence_accuracy
from export.onnx_io import FRAME_INT8, FRAME_ONNX, SEQUENCE_ONNX, export_pair
from export.quantize import quantize_frame_cnn
from export.sources import HeldOut, load_sources
from export.train import embed, train_pair

logger = logging.getLogger(__name__)

CALIBRATION_CLIPS = 64


def refuse_overwrite(model_dir: Path, names: list[str], force: bool) -> None:
    """DataError if any of ``names`` exists in ``model_dir`` and ``force`` is not set."""
    existing = [n for n in names if (model_dir / n).exists()]
    if existing and not force:
        raise DataError(f"{model_dir}: {', '.join(existing)} already exist (use --force to overwrite)")


def _torch_step(pair_gru: torch.nn.Module) -> StepFn:
    def step(features: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            logits, h_out = pair_gru(torch.from_numpy(features), torch.from_numpy(h))
        return logits.numpy(), h_out.numpy()

    return step


def heldout_figures(pair: TrainedPair, held: HeldOut) -> dict[str, float]:
    """Held-out accuracy of the PyTorch models (the figures printed at the end of training)."""
    seq_len = pair.config.seq_len
    state = (pair.sequence.cfg.num_layers, pair.sequence.cfg.hidden_size)
    step = _torch_step(pair.sequence)
    s_logits, s_emb = embed(pair.frame, held.streams.images)
    c_logits, c_emb = embed(pair.frame, held.clips.images)
    labels = np.concatenate([held.streams.frame_labels, held.clips.frame_labels])
    keep = keep_mask(held.streams, 0.1, seed=7)
    figures = {
        "frame_accuracy": accuracy(np.concatenate([s_logits, c_logits]), labels),
        "sequence_accuracy": sequence_accuracy(rollout(step, c_emb, held.clips, state), held.clips, seq_len - 1),
        "stream_accuracy": sequence_accuracy(rollout(step, s_emb, held.streams, state), held.streams, seq_len - 1),
        "stream_accuracy_dropped_frames": sequence_accuracy(
            rollout(step, s_emb, held.streams, state, keep), held.streams, seq_len - 1, keep
        ),
    }
    return {k: round(v, 2) for k, v in figures.items()}


def run_train(cfg: TrainConfig, model_dir: Path, force: bool) -> dict[str, float]:
    """Train both models, print held-out figures, save the checkpoints."""
    refuse_overwrite(model_dir, [FRAME_CHECKPOINT, SEQUENCE_CHECKPOINT], force)
    t0 = time.monotonic()
    torch.set_num_threads(cfg.threads)
    sources = load_sources(cfg)  # a bad --data folder fails here, before any training
    cnn, gru = train_pair(sources.frames, sources.streams, cfg)
    pair = TrainedPair(
        frame=cnn,
        sequence=gru,
        frame_classes=sources.frames.frame_classes,
        motion_classes=sources.streams.motion_classes,
        config=cfg,
        figures={},
    )
    figures = heldout_figures(pair, sources.heldout)
    figures["train_seconds"] = round(time.monotonic() - t0, 1)
    pair = TrainedPair(**{**pair.__dict__, "figures": figures})
    save_pair(pair, model_dir)
    return figures


def run_export(model_dir: Path, int8: bool, force: bool, demo: bool = True) -> list[Path]:
    """Export the checkpoints to ONNX (and int8), write the demo clip and the manifest."""
    names = [FRAME_ONNX, SEQUENCE_ONNX] + ([FRAME_INT8] if int8 else []) + ([DEMO_CLIP, DEMO_LABELS] if demo else [])
    refuse_overwrite(model_dir, names, force)
    pair = load_pair(model_dir)
    # The demo clip shows generated scenes; it means nothing to models trained on a user's labels.
    demo = demo and pair.config.data is None
    paths = export_pair(pair, model_dir)
    if int8:
        cfg = pair.config
        size = (cfg.input_height, cfg.input_width)
        calib = synthetic_clips(cfg.seed, SPLIT_CALIBRATION, CALIBRATION_CLIPS, 4, size, jpeg_prob=cfg.jpeg_prob)
        paths.append(quantize_frame_cnn(model_dir / FRAME_ONNX, model_dir / FRAME_INT8, calib.images))
    if demo:
        paths.extend(write_demo(model_dir, pair.config.seed))
    paths.append(write_manifest(model_dir))
    return paths


def record_figures(model_dir: Path, figures: dict[str, Any]) -> Path:
    """Store evaluate figures in the manifest."""
    return write_manifest(model_dir, evaluation=figures)

"""The per-object motion model: a GRU trained on what the daemon's per-object stage feeds it.

The bundled ``sequence_gru.onnx`` learned motion from whole single-object frames. An object's view
in a crowded scene (often small, others beside it, partly hidden) looks different to the frame
CNN, and that GRU calls such views "none" (no object) about a quarter of the time: held-out
per-object motion accuracy 64 %. ``object_gru.onnx`` has the same architecture and learns from the
frame CNN's embeddings of object views (:mod:`export.object_views`), labelled with the object
motions only: a tracked object is always there. The frame CNN is the exported one, unchanged, so
both GRUs run beside it.

Trained with the pair's GRU trainer (:func:`export.train.train_sequence_gru`): windows of the
sequences with skipped frames, mirrored and shifted tracks, early steps weighted down.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from export.checkpoint import FORMAT
from export.config import TrainConfig
from export.errors import ExportError
from export.nets import SequenceGRU, SequenceNetConfig
from export.object_motion import OBJECT_MOTIONS
from export.object_views import ObjectSequences, ViewEmbedder, object_sequences
from export.onnx_io import FRAME_ONNX, export_gru, read_spec
from export.ort_run import session
from export.train import train_sequence_gru

logger = logging.getLogger(__name__)

OBJECT_GRU_ONNX = "object_gru.onnx"
OBJECT_GRU_CHECKPOINT = "object_gru.pt"
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ObjectGruConfig:
    """Everything that decides what the per-object GRU becomes."""

    seed: int = 0
    clips: int = 400  # generated multi-object scenes
    clip_length: int = 120
    box_jitter: float = 0.04  # std of each box edge, as a fraction of the box: a detector's noise
    gru: TrainConfig = field(default_factory=lambda: TrainConfig(gru_steps=3000))
    threads: int = 2

    def quick(self) -> ObjectGruConfig:
        """A shortened run for tests and smoke checks (seconds)."""
        return replace(self, clips=2, clip_length=24, gru=self.gru.quick())


def train_object_gru(cnn_path: Path, cfg: ObjectGruConfig) -> tuple[SequenceGRU, ObjectSequences]:
    """The GRU trained on the views of generated objects through the frame CNN at ``cnn_path``."""
    spec = read_spec(cnn_path)
    if spec.input is None or "embedding" not in spec.outputs:
        raise ExportError(f"{cnn_path}: not a frame CNN with an embedding output")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.monotonic()
    data = object_sequences(ViewEmbedder(cnn_path, spec.input), cfg.seed, cfg.clips, cfg.clip_length, cfg.box_jitter)
    logger.info("%d object sequences, %d steps in %.1f s", data.num_clips, len(data.embeddings), time.monotonic() - t0)
    net = train_sequence_gru(data.embeddings, data, replace(cfg.gru, seed=cfg.seed))
    logger.info("trained the per-object GRU in %.1f s", time.monotonic() - t0)
    return net, data


def save_object_gru(net: SequenceGRU, cfg: ObjectGruConfig, path: Path) -> Path:
    """The checkpoint: weights, network and training settings (``torch.load(weights_only=True)`` reads it)."""
    settings = dataclasses.asdict(cfg)
    settings["gru"]["data"] = None
    torch.save(
        {
            "format": FORMAT,
            "net": dataclasses.asdict(net.cfg),
            "labels": list(OBJECT_MOTIONS),
            "train_config": settings,
            "state_dict": net.state_dict(),
        },
        path,
    )
    return path


def load_object_gru(path: Path) -> SequenceGRU:
    raw = torch.load(path, weights_only=True)
    net = SequenceGRU(SequenceNetConfig(**raw["net"]))
    net.load_state_dict(raw["state_dict"])
    return net.eval()


def export_object_gru(net: SequenceGRU, path: Path, steps: int = 40) -> float:
    """Write ``object_gru.onnx`` and check it against ``net`` over ``steps`` chained steps of a
    batch of random features; returns the largest difference of logits or state."""
    export_gru(net, OBJECT_MOTIONS, path)
    sess = session(path)
    cfg = net.cfg
    rng = np.random.default_rng(0)
    h_torch = torch.zeros(cfg.num_layers, 4, cfg.hidden_size)
    h_onnx = h_torch.numpy().copy()
    worst = 0.0
    with torch.no_grad():
        for _ in range(steps):
            x = rng.normal(0, 1, (4, cfg.feature_size)).astype(np.float32)
            logits_t, h_torch = net(torch.from_numpy(x), h_torch)
            logits_o, h_onnx = sess.run(["logits", "h_out"], {"features": x, "h_in": h_onnx})
            diffs = (np.abs(logits_o - logits_t.numpy()).max(), np.abs(h_onnx - h_torch.numpy()).max())
            worst = max(worst, *map(float, diffs))
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"{path}: ONNX differs from PyTorch by {worst:.3g} (tolerance {PARITY_TOLERANCE:g})")
    return worst


def run_object_gru(model_dir: Path, cfg: ObjectGruConfig) -> dict[str, object]:
    """Train, save, export and check the per-object GRU beside the frame CNN in ``model_dir``."""
    cnn = model_dir / FRAME_ONNX
    if not cnn.is_file():
        raise ExportError(f"{cnn}: missing (the per-object GRU learns on the frame CNN's embeddings)")
    net, data = train_object_gru(cnn, cfg)
    save_object_gru(net, cfg, model_dir / OBJECT_GRU_CHECKPOINT)
    parity = export_object_gru(net, model_dir / OBJECT_GRU_ONNX)
    return {
        "object_gru_parity_max_abs_diff": float(f"{parity:.3g}"),
        "object_gru_training": {"sequences": data.num_clips, "steps": len(data.embeddings), "seed": cfg.seed},
    }

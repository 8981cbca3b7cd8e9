"""Training of ShapeDetector on rendered multi-object frames, and its checkpoint."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from export.datasets import MEAN, SPLIT_OBJECTS_TRAIN, STD
from export.detector import DetectorConfig, ShapeDetector
from export.detector_loss import Targets, detection_loss
from export.errors import DataError
from export.object_data import DetectionSet, render_detection_set
from export.scenes import OBJECT_CLASSES

logger = logging.getLogger(__name__)

DETECTOR_CHECKPOINT = "detector.pt"
FORMAT = 1
EMA_DECAY = 0.998


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Everything that decides what ``train-detector`` produces; stored in the checkpoint."""

    seed: int = 0
    # 0.6 of the 320 x 240 camera frame on both axes: the smallest objects (about 20 px) keep 12 px.
    input_height: int = 144
    input_width: int = 192
    width_mult: float = 1.0
    # Many short scenes, a few frames of each: variety of scenes matters more than frames per scene.
    train_clips: int = 2000
    frames_per_clip: int = 6
    clip_length: int = 150
    jpeg_prob: float = 0.3
    steps: int = 6500
    batch: int = 24
    lr: float = 2.5e-3
    # Held-out figures: whole clips, every frame (also what a tracker would be scored on).
    heldout_clips: int = 24
    heldout_length: int = 75
    threads: int = 2

    def quick(self) -> DetectorTrainConfig:
        """A run of seconds for tests and smoke checks."""
        return replace(self, train_clips=16, frames_per_clip=2, steps=10, batch=8, heldout_clips=3, heldout_length=8)


@dataclass(frozen=True)
class TrainedDetector:
    """The trained network (eval mode), its labels, how it was made and its held-out figures."""

    net: ShapeDetector
    labels: tuple[str, ...]
    config: DetectorTrainConfig
    figures: dict[str, float]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, h, w, 3]`` RGB -> normalised float ``[N, 3, h, w]`` (as :func:`export.datasets.normalise`)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _augment(x: torch.Tensor, boxes: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Brightness, contrast and mirror flips (boxes flipped with the image); ``x`` in 0..1."""
    n, _, h, w = x.shape
    contrast = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen)
    bright = 0.2 * torch.rand(n, 1, 1, 1, generator=gen) - 0.1
    x = ((x - 0.5) * contrast + 0.5 + bright).clamp_(0, 1)
    hflip = (torch.rand(n, generator=gen) < 0.5).view(n, 1)
    vflip = (torch.rand(n, generator=gen) < 0.5).view(n, 1)
    x = torch.where(hflip.view(n, 1, 1, 1), x.flip(3), x)
    x = torch.where(vflip.view(n, 1, 1, 1), x.flip(2), x)
    b = boxes.clone()
    b[..., 0] = torch.where(hflip, w - boxes[..., 2], boxes[..., 0])
    b[..., 2] = torch.where(hflip, w - boxes[..., 0], boxes[..., 2])
    b[..., 1] = torch.where(vflip, h - boxes[..., 3], boxes[..., 1])
    b[..., 3] = torch.where(vflip, h - boxes[..., 1], boxes[..., 3])
    return x, b


def training_set(cfg: DetectorTrainConfig) -> DetectionSet:
    """The rendered training frames (split SPLIT_OBJECTS_TRAIN)."""
    seeds = [[cfg.seed, SPLIT_OBJECTS_TRAIN, i] for i in range(cfg.train_clips)]
    return render_detection_set(
        seeds,
        cfg.clip_length,
        (cfg.input_height, cfg.input_width),
        frames_per_clip=cfg.frames_per_clip,
        jpeg_prob=cfg.jpeg_prob,
        desc="objects (train)",
    )


def train_detector(data: DetectionSet, cfg: DetectorTrainConfig) -> ShapeDetector:
    """AdamW with a one-cycle schedule over random batches of ``data``."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = ShapeDetector(DetectorConfig(len(OBJECT_CLASSES), cfg.input_height, cfg.input_width, cfg.width_mult))
    net.train()
    rng = np.random.default_rng([cfg.seed, 30])
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    images = torch.from_numpy(data.images)
    boxes, classes, ignore = (torch.from_numpy(a) for a in (data.boxes, data.classes, data.ignore))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=5e-4)
    sched: torch.optim.lr_scheduler.LRScheduler
    if cfg.steps >= 20:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    else:  # a smoke run: too short for a warm-up phase
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    points: torch.Tensor = net.points  # type: ignore[assignment]
    # An exponential moving average of the weights (and BN statistics) is what gets exported: it
    # smooths the last steps' noise, worth a point or two of mAP@0.5:0.95 for nothing at run time.
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(EMA_DECAY), use_buffers=True)  # type: ignore[no-untyped-call]
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    bar = tqdm(range(cfg.steps), desc="ShapeDetector", unit="step")
    for _ in bar:
        idx = torch.from_numpy(rng.integers(0, len(images), size=cfg.batch))
        x, b = _augment(images[idx].permute(0, 3, 1, 2).float().div_(255.0), boxes[idx], gen)
        logits, ltrb = net.raw((x - mean) / std)
        loss, parts = detection_loss(logits, net.boxes(ltrb), points, Targets(b, classes[idx], ignore[idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        ema.update_parameters(net)
        bar.set_postfix(cls=f"{parts['cls']:.3f}", box=f"{parts['box']:.3f}", iou=f"{parts['iou']:.2f}")
    averaged = ema.module
    if not isinstance(averaged, ShapeDetector):  # pragma: no cover - AveragedModel keeps a deep copy
        raise TypeError("EMA model is not a ShapeDetector")
    return averaged.eval()


def save_detector(det: TrainedDetector, out_dir: Path) -> Path:
    """Write ``detector.pt`` (plain dicts and tensors: ``torch.load(weights_only=True)`` reads it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DETECTOR_CHECKPOINT
    torch.save(
        {
            "format": FORMAT,
            "net": dataclasses.asdict(det.net.cfg),
            "labels": list(det.labels),
            "train_config": dataclasses.asdict(det.config),
            "figures": dict(det.figures),
            "state_dict": det.net.state_dict(),
        },
        path,
    )
    return path


def load_detector(model_dir: Path) -> TrainedDetector:
    """Rebuild the detector from ``detector.pt``."""
    path = model_dir / DETECTOR_CHECKPOINT
    if not path.is_file():
        raise DataError(f"{path}: no checkpoint (run `streamer-export train-detector` first)")
    raw: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DataError(f"{path}: not a streamer-export detector checkpoint (format {FORMAT})")
    net = ShapeDetector(DetectorConfig(**raw["net"]))
    net.load_state_dict(raw["state_dict"])
    known = {f.name for f in dataclasses.fields(DetectorTrainConfig)}
    cfg = DetectorTrainConfig(**{k: v for k, v in raw["train_config"].items() if k in known})
    figures = {str(k): float(v) for k, v in raw.get("figures", {}).items()}
    return TrainedDetector(net.eval(), tuple(raw["labels"]), cfg, figures)


def detector_config(model_dir: Path) -> DetectorTrainConfig:
    """The settings ``model_dir``'s detector was trained with (from its checkpoint), else the defaults:
    what its held-out figures are measured on."""
    return load_detector(model_dir).config if (model_dir / DETECTOR_CHECKPOINT).is_file() else DetectorTrainConfig()


def timed_training(cfg: DetectorTrainConfig) -> tuple[ShapeDetector, float]:
    """Render the training set and train; returns the net and the wall seconds both took."""
    t0 = time.monotonic()
    net = train_detector(training_set(cfg), cfg)
    seconds = time.monotonic() - t0
    logger.info("rendered and trained the detector in %.1f s", seconds)
    return net, seconds

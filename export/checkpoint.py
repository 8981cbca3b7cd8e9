"""PyTorch checkpoints of the trained pair: weights plus everything needed to rebuild and export them.

Saved as plain dicts of tensors and JSON-like values, so ``torch.load(weights_only=True)`` reads them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from export.config import TrainConfig
from export.errors import DataError
from export.nets import FrameCNN, FrameNetConfig, SequenceGRU, SequenceNetConfig

FRAME_CHECKPOINT = "frame_cnn.pt"
SEQUENCE_CHECKPOINT = "sequence_gru.pt"
FORMAT = 1


@dataclass(frozen=True)
class TrainedPair:
    """The two trained networks (in eval mode) and how they were made."""

    frame: FrameCNN
    sequence: SequenceGRU
    frame_classes: tuple[str, ...]
    motion_classes: tuple[str, ...]
    config: TrainConfig
    figures: dict[str, float]


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    out["data"] = str(cfg.data) if cfg.data is not None else None
    return out


def _config_from(raw: dict[str, Any]) -> TrainConfig:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in raw.items() if k in known}
    if values.get("data") is not None:
        values["data"] = Path(values["data"])
    return TrainConfig(**values)


def save_pair(pair: TrainedPair, out_dir: Path) -> list[Path]:
    """Write both checkpoints into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    common = {"format": FORMAT, "train_config": _config_dict(pair.config), "figures": dict(pair.figures)}
    frame_path, seq_path = out_dir / FRAME_CHECKPOINT, out_dir / SEQUENCE_CHECKPOINT
    torch.save(
        {
            **common,
            "net": dataclasses.asdict(pair.frame.cfg),
            "labels": list(pair.frame_classes),
            "state_dict": pair.frame.state_dict(),
        },
        frame_path,
    )
    torch.save(
        {
            **common,
            "net": dataclasses.asdict(pair.sequence.cfg),
            "labels": list(pair.motion_classes),
            "state_dict": pair.sequence.state_dict(),
        },
        seq_path,
    )
    return [frame_path, seq_path]


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: no checkpoint (run `streamer-export train` first)")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DataError(f"{path}: not a streamer-export checkpoint (format {FORMAT})")
    return raw


def load_pair(model_dir: Path) -> TrainedPair:
    """Rebuild both networks from the checkpoints in ``model_dir``."""
    f_raw = _load(model_dir / FRAME_CHECKPOINT)
    s_raw = _load(model_dir / SEQUENCE_CHECKPOINT)
    frame = FrameCNN(FrameNetConfig(**f_raw["net"]))
    frame.load_state_dict(f_raw["state_dict"])
    sequence = SequenceGRU(SequenceNetConfig(**s_raw["net"]))
    sequence.load_state_dict(s_raw["state_dict"])
    return TrainedPair(
        frame=frame.eval(),
        sequence=sequence.eval(),
        frame_classes=tuple(f_raw["labels"]),
        motion_classes=tuple(s_raw["labels"]),
        config=_config_from(f_raw["train_config"]),
        figures={str(k): float(v) for k, v in f_raw.get("figures", {}).items()},
    )

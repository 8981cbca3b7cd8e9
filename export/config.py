"""Training settings as one frozen record, with the full (default) and quick presets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what ``train`` produces; stored in the checkpoints."""

    seed: int = 0
    input_height: int = 72
    input_width: int = 96
    feature_dim: int = 30
    # Channel multiplier of FrameCNN (channels rounded to multiples of 8); its multiply-adds grow
    # about with the square: 1.5 doubles them.
    width_mult: float = 1.0
    hidden_size: int = 64
    num_layers: int = 1
    seq_len: int = 16
    # Synthetic training data: many short single-segment clips for the CNN (variety of scenes
    # matters more than frames per scene), continuous streams whose motion changes every 20-80
    # frames for the GRU.
    frame_clips: int = 6000
    frames_per_clip: int = 3
    streams: int = 200
    stream_length: int = 120
    jpeg_prob: float = 0.3
    cnn_steps: int = 3000
    cnn_batch: int = 64
    cnn_lr: float = 4e-3
    position_weight: float = 5.0
    gru_steps: int = 1500
    gru_batch: int = 64
    gru_window: int = 48
    gru_lr: float = 5e-3
    frame_skip_prob: float = 0.1
    # Held-out figures: continuous streams and single-segment clips of seq_len frames.
    heldout_streams: int = 40
    heldout_clips: int = 420
    data: Path | None = None
    threads: int = 2

    def quick(self) -> TrainConfig:
        """A shortened run for tests and smoke checks (seconds, not minutes)."""
        return replace(
            self,
            frame_clips=40,
            frames_per_clip=2,
            streams=8,
            stream_length=48,
            cnn_steps=20,
            cnn_batch=32,
            gru_steps=20,
            gru_batch=8,
            gru_window=24,
            heldout_streams=2,
            heldout_clips=14,
        )

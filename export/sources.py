"""Where training and held-out data come from: the scene generator, or a user's folder of clips."""

from __future__ import annotations

from dataclasses import dataclass

from export.config import TrainConfig
from export.datasets import (
    SPLIT_HELDOUT_CLIPS,
    SPLIT_HELDOUT_STREAMS,
    SPLIT_TRAIN,
    SPLIT_TRAIN_FRAMES,
    VideoSet,
    synthetic_clips,
    synthetic_streams,
)
from export.userdata import load_folder


@dataclass(frozen=True)
class HeldOut:
    """Held-out data: continuous multi-segment streams and single-segment clips."""

    streams: VideoSet
    clips: VideoSet


@dataclass(frozen=True)
class Sources:
    """Training data for each model, and the held-out data for the final figures."""

    frames: VideoSet  # what FrameCNN trains on
    streams: VideoSet  # what SequenceGRU trains on (through the frozen CNN)
    heldout: HeldOut


def _size(cfg: TrainConfig) -> tuple[int, int]:
    return (cfg.input_height, cfg.input_width)


def _synthetic_heldout(cfg: TrainConfig) -> HeldOut:
    streams = synthetic_streams(
        cfg.seed, SPLIT_HELDOUT_STREAMS, cfg.heldout_streams, cfg.stream_length, _size(cfg), jpeg_prob=cfg.jpeg_prob
    )
    clips = synthetic_clips(cfg.seed, SPLIT_HELDOUT_CLIPS, cfg.heldout_clips, cfg.seq_len, _size(cfg))
    return HeldOut(streams=streams, clips=clips)


def load_sources(cfg: TrainConfig) -> Sources:
    """Everything ``train`` needs; a user folder is read (and checked) once, before any training."""
    if cfg.data is not None:
        user = load_folder(cfg.data, _size(cfg), cfg.seq_len, cfg.seed)
        return Sources(frames=user.train, streams=user.train, heldout=HeldOut(user.heldout, user.heldout))
    frames = synthetic_clips(
        cfg.seed, SPLIT_TRAIN_FRAMES, cfg.frame_clips, cfg.frames_per_clip, _size(cfg), jpeg_prob=cfg.jpeg_prob
    )
    streams = synthetic_streams(
        cfg.seed, SPLIT_TRAIN, cfg.streams, cfg.stream_length, _size(cfg), jpeg_prob=cfg.jpeg_prob
    )
    return Sources(frames=frames, streams=streams, heldout=_synthetic_heldout(cfg))


def heldout_sets(cfg: TrainConfig) -> HeldOut:
    """Held-out data from seeds disjoint from training (or the held-out clips of a user folder)."""
    if cfg.data is not None:
        held = load_folder(cfg.data, _size(cfg), cfg.seq_len, cfg.seed).heldout
        return HeldOut(streams=held, clips=held)
    return _synthetic_heldout(cfg)

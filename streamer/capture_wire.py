"""The messages between the daemon's process and its capture processes (a private pipe, pickled).

Commands go down (add or remove a stream, hand a slot back, stop); frames and events come up.
Counters travel in batches (``Counts``) so a busy stream sends one message per kept frame, not
one per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamer.config import CaptureConfig, StreamConfig
from streamer.modelspec import InputSpec
from streamer.records import DropReason, FrameInfo, StreamState, Transform
from streamer.slots import SlotLayout
from streamer.sources import Source


@dataclass(frozen=True)
class WorkerSetup:
    """What a capture process is started with."""

    index: int
    capture: CaptureConfig
    specs: Mapping[str, InputSpec]
    layout: SlotLayout
    log_level: int
    wait_depth: int  # frames an offline stream may have waiting in the batcher


# -- down: daemon -> capture process ---------------------------------------------------------


@dataclass(frozen=True)
class SetTap:
    """Send the daemon a JPEG of this stream's frames: every frame (``every_s`` 0), one per ``every_s``, or none."""

    stream: str
    every_s: float | None  # None: tap off
    width: int = 640
    quality: int = 80


@dataclass(frozen=True)
class AddStream:
    cfg: StreamConfig
    source: Source
    offline: bool  # back-pressure (a file played offline) rather than newest-frame-wins
    segment: str  # shared memory name
    generation: int
    decoder_threads: int
    start_seq: int = 0
    start_epoch: int = 0
    tap: SetTap | None = None


@dataclass(frozen=True)
class RemoveStream:
    stream: str


@dataclass(frozen=True)
class ReleaseSlot:
    stream: str
    generation: int
    index: int


@dataclass(frozen=True)
class Stop:
    pass


# -- up: capture process -> daemon -----------------------------------------------------------


@dataclass(frozen=True)
class FrameReady:
    info: FrameInfo
    generation: int
    index: int
    transforms: Mapping[str, Transform]


@dataclass(frozen=True)
class TapFrame:
    """A frame for the live view or the clip ring: downscaled and JPEG-encoded in the capture process."""

    info: FrameInfo
    jpeg: bytes


@dataclass(frozen=True)
class StateChanged:
    stream: str
    state: StreamState
    detail: str


@dataclass(frozen=True)
class Counts:
    """Events counted since the last batch: captured frames, drops by reason, reconnects."""

    captured: Mapping[str, int]
    dropped: Mapping[tuple[str, DropReason], int]
    reconnected: Mapping[str, int]


@dataclass(frozen=True)
class Beat:
    """Each stream's capture heartbeat (``time.monotonic()``, one clock for every process) and liveness."""

    heartbeats: Mapping[str, float]
    alive: Mapping[str, bool]


@dataclass(frozen=True)
class StreamGone:
    stream: str


Down = AddStream | RemoveStream | ReleaseSlot | SetTap | Stop
Up = FrameReady | TapFrame | StateChanged | Counts | Beat | StreamGone

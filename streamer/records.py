"""Frozen records passed between the stages of the frame path (never tuples or loose dicts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from streamer.picture import Picture, Yuv420

Image = npt.NDArray[np.uint8]
Tensor = npt.NDArray[np.float32]


class StreamState(StrEnum):
    """Where a stream's capture is in its life."""

    CONNECTING = "connecting"
    UP = "up"
    BACKOFF = "backoff"
    STOPPED = "stopped"
    FAILED = "failed"


class DropReason(StrEnum):
    """Why a captured frame was not published: the ``reason`` label of ``streamer_frames_dropped_total``."""

    SUPERSEDED = "superseded"  # a live stream's newer frame replaced it before inference took it
    MAX_FPS = "max_fps"  # above the stream's configured rate
    PUBLISH = "publish"  # the publisher's queue or the socket's high-water mark was full
    ERROR = "error"  # preprocessing or inference failed on it
    CORRUPT = "corrupt"  # it did not decode (a bounded run of these is tolerated before a reconnect)


class StatusKind(StrEnum):
    """The ``event`` of a message on the status topic."""

    DAEMON_START = "daemon_start"
    DAEMON_STOP = "daemon_stop"
    STREAM_STATE = "stream_state"
    STREAM_ADDED = "stream_added"
    STREAM_REMOVED = "stream_removed"
    CONFIG_RELOADED = "config_reloaded"
    CONFIG_ERROR = "config_error"


@dataclass(frozen=True)
class FrameInfo:
    """Who a frame is and when it was captured; what travels with it to the message."""

    stream: str
    seq: int
    epoch: int
    t_capture_wall: float
    t_capture_mono: float
    width: int
    height: int
    t_media: float | None = None  # a file's frame: its position in the file, seconds at the file's own rate

    @property
    def t_stream(self) -> float:
        """Seconds on the stream's own timeline, which motion and gaps are measured on.

        A camera's timeline is its capture clock. A file's is its own frame rate: read faster than
        real time, or stalled by a busy machine, its frames are still ``1 / fps`` apart.
        """
        return self.t_capture_mono if self.t_media is None else self.t_media


class Frame:
    """A decoded frame: its ``info`` and its picture.

    ``image`` is the frame in BGR ``uint8`` ``[H, W, 3]`` as OpenCV gives it. A decoder that hands
    over its YUV planes instead (``yuv``, a :class:`streamer.picture.Yuv420`) has the frame converted
    on the first read of ``image``: a frame only prepared for the models is never converted whole.
    """

    __slots__ = ("_image", "info", "yuv")

    def __init__(self, info: FrameInfo, image: Image | None = None, yuv: Yuv420 | None = None) -> None:
        if image is None and yuv is None:
            raise ValueError("a frame needs an image or YUV planes")
        self.info = info
        self.yuv = yuv
        self._image = image

    @property
    def image(self) -> Image:
        if self._image is None:
            assert self.yuv is not None
            self._image = self.yuv.convert()
        return self._image

    @property
    def picture(self) -> Picture:
        """The cheapest form to prepare model inputs from: the planes where there are any."""
        return self.yuv if self.yuv is not None else self.image


@dataclass(frozen=True)
class Transform:
    """Geometry from source pixels to model input pixels: ``x_in = x_src * scale_x + pad_x``."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float


@dataclass(frozen=True)
class ModelInput:
    """One image model's preprocessed input for one frame, in a buffer owned by a slot pool."""

    tensor: npt.NDArray[np.float32] | npt.NDArray[np.uint8]
    transform: Transform


@dataclass(frozen=True)
class SlotRef:
    """Where a frame prepared by a capture process lies: slot ``index`` of a stream's shared segment."""

    generation: int  # the segment's; a restarted capture process gets new segments
    index: int


@dataclass(frozen=True)
class Prepared:
    """A frame after preprocessing: small tensors per image model, the image itself dropped."""

    info: FrameInfo
    inputs: Mapping[str, ModelInput]
    slot: SlotRef | None = None  # set when the tensors lie in shared memory


@dataclass(frozen=True)
class Classification:
    """One of a classifier's top-k answers."""

    label: str
    score: float


@dataclass(frozen=True)
class SequenceOutput:
    """The sequence model's label for a stream, or for one tracked object, after this frame."""

    model: str
    label: str
    score: float
    steps: int


@dataclass(frozen=True)
class Detection:
    """One detected object, its box in source pixels ``(x1, y1, x2, y2)``.

    ``track_id`` is the tracker's id for the object (None while unconfirmed or untracked);
    ``sequence`` the per-object sequence model's label for its track, where one is configured.
    """

    label: str
    score: float
    box: tuple[float, float, float, float]
    track_id: int | None = None
    sequence: SequenceOutput | None = None
    zones: tuple[str, ...] = ()  # the stream's zones the object is in (see streamer.zones)


@dataclass(frozen=True)
class ModelOutput:
    """What one per-frame model said about one frame."""

    model: str
    kind: str
    top: tuple[Classification, ...] = ()
    detections: tuple[Detection, ...] = ()
    embedding: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Result:
    """Everything published for one processed frame."""

    info: FrameInfo
    outputs: tuple[ModelOutput, ...]
    sequence: SequenceOutput | None = None
    extra: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EventMessage:
    """A message for the ``_events`` topic (zones, lines, clips); ``body`` has ``event`` and ``stream``."""

    body: Mapping[str, object]


@dataclass(frozen=True)
class StatusEvent:
    """A lifecycle event published on the reserved status topic."""

    event: StatusKind
    stream: str | None = None
    state: str | None = None
    detail: str = ""

"""The live view's frames: the newest downscaled frame of each stream, annotated and JPEG-encoded once for all viewers.

Costs nothing while nobody watches: capture asks :meth:`PreviewHub.wants` per frame (a dict lookup
and a clock read) and hands over a frame only while a viewer asked recently and the stream's
preview is due (at most ``fps`` a second). A frame is encoded at most once, when a viewer asks for
it, however many viewers there are; every viewer gets the newest encoding and none waits for another.
The newest result of the stream is drawn on the newest frame: boxes may trail the picture by the
inference latency, which a viewer does not see at preview rates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import cv2

from streamer.annotate import Overlay, draw
from streamer.preview_config import PreviewConfig
from streamer.records import FrameInfo, Image, Result
from streamer.zones_config import LineConfig, ZoneConfig

Clock = Callable[[], float]
WATCH_GRACE_S = 3.0  # a viewer that asked within this long still counts as watching


@dataclass(frozen=True)
class PreviewSettings:
    max_width: int = 640
    fps: float = 5.0
    quality: int = 75


@dataclass(frozen=True)
class Picture:
    """One encoded preview frame; ``version`` grows with every new frame of the stream."""

    version: int
    jpeg: bytes
    info: FrameInfo


@dataclass
class _Stream:
    zones: tuple[ZoneConfig, ...] = ()
    lines: tuple[LineConfig, ...] = ()
    state: str = "connecting"
    asked: float = -1e9  # when a viewer last asked (clock time)
    next_due: float = 0.0
    frame: Image | None = None
    info: FrameInfo | None = None
    scale: float = 1.0
    version: int = 0
    result: Result | None = None
    encoded: Picture | None = None


class PreviewHub:
    """Shared by capture (frames in), inference (results in) and the HTTP viewers (pictures out)."""

    def __init__(self, settings: PreviewSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self.encoded_total = 0

    # -- streams -----------------------------------------------------------------------------
    def add(self, stream: str, zones: Sequence[ZoneConfig] = (), lines: Sequence[LineConfig] = ()) -> None:
        with self._lock:
            self._streams[stream] = _Stream(tuple(zones), tuple(lines))

    def remove(self, stream: str) -> None:
        with self._lock:
            self._streams.pop(stream, None)

    def streams(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    def set_state(self, stream: str, state: str) -> None:
        with self._lock:
            s = self._streams.get(stream)
            if s is not None:
                s.state = state

    def state(self, stream: str) -> str | None:
        with self._lock:
            s = self._streams.get(stream)
            return None if s is None else s.state

    # -- frames and results in ---------------------------------------------------------------
    def watched(self, stream: str) -> bool:
        """Whether a viewer asked for this stream's picture recently."""
        s = self._streams.get(stream)
        return s is not None and self._clock() - s.asked < WATCH_GRACE_S

    def wants(self, stream: str) -> bool:
        """Whether capture should hand over this frame: someone watches and the preview is due."""
        s = self._streams.get(stream)  # a dict read: safe without the lock, and this is per frame
        if s is None:
            return False
        now = self._clock()
        return now - s.asked < WATCH_GRACE_S and now >= s.next_due

    def offer(self, info: FrameInfo, image: Image) -> None:
        """A frame for the preview (called only after :meth:`wants`); downscaled here, off the lock."""
        h, w = image.shape[:2]
        scale = min(1.0, self.settings.max_width / w)
        small = (
            image.copy()
            if scale == 1.0
            else cast(Image, cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA))
        )
        with self._lock:
            s = self._streams.get(info.stream)
            if s is None:
                return
            s.frame, s.info, s.scale = small, info, scale
            s.version += 1
            s.next_due = self._clock() + 1.0 / self.settings.fps

    def newest(self, stream: str) -> Result | None:
        """The stream's newest result (for the page's text beside the picture)."""
        s = self._streams.get(stream)
        return None if s is None else s.result

    def result(self, result: Result) -> None:
        s = self._streams.get(result.info.stream)
        if s is not None:
            s.result = result  # one reference assignment: the viewer side reads whichever is newest

    # -- pictures out ------------------------------------------------------------------------
    def picture(self, stream: str) -> Picture | None:
        """The newest annotated frame of ``stream``, encoded once; None before its first frame."""
        with self._lock:
            s = self._streams.get(stream)
            if s is None:
                return None
            s.asked = self._clock()
            if s.frame is None or s.info is None:
                return None
            if s.encoded is not None and s.encoded.version == s.version:
                return s.encoded
            frame, info, scale, version, result = s.frame, s.info, s.scale, s.version, s.result
            w, h = info.width, info.height
            zones = tuple(z.zone(w, h) for z in s.zones)
            lines = tuple(ln.line(w, h) for ln in s.lines)
            overlay = Overlay(zones, lines, s.state if s.state != "up" else "")
        with self._encode_lock:  # two viewers asking at once encode once
            with self._lock:
                if s.encoded is not None and s.encoded.version == version:
                    return s.encoded
            image = draw(
                frame.copy(), result if result is None or result.info.epoch == info.epoch else None, scale, overlay
            )
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.settings.quality])
            if not ok:
                return None
            picture = Picture(version, buf.tobytes(), info)
            with self._lock:
                s.encoded = picture
            self.encoded_total += 1
            return picture


def preview_hub(cfg: PreviewConfig) -> PreviewHub | None:
    """The live view's hub when ``[preview]`` is enabled, else None (and capture taps nothing for it)."""
    if not cfg.enabled:
        return None
    return PreviewHub(PreviewSettings(cfg.max_width, cfg.fps, cfg.quality))

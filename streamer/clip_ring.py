"""A bounded ring of a stream's recent frames, JPEG-encoded at clip size, with their results.

Frames come in from the capture side and their results later from inference (a frame inference
skipped never gets one); a clip's pre-roll is read from here. Bounded by seconds of capture time
and by bytes, whichever bites first. Not thread-safe: its owner (the stream's recorder) locks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2

from streamer.preprocess import resize
from streamer.records import FrameInfo, Image

# Bytes counted per frame on top of its JPEG: the FrameInfo, the result dict, the ring's own slot.
FRAME_OVERHEAD = 1024


def clip_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """The clip size for a source size: ``target_width`` wide (never upscaled), aspect kept, both even."""
    w = min(target_width, width)
    h = round(height * w / width)
    return max(2, w - w % 2), max(2, h - h % 2)


def encode_frame(image: Image, target_width: int, quality: int) -> bytes:
    """``image`` (BGR) downscaled to clip size and JPEG-encoded."""
    height, width = image.shape[:2]
    if not width or not height:
        raise ValueError("an empty frame")
    size = clip_size(width, height, target_width)
    if size != (width, height):
        # The daemon's supersampling shrink: near INTER_AREA's picture (plain bilinear aliases thin
        # edges, text, wires) at about half its cost.
        image = resize(image, size)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot JPEG-encode a {width}x{height} frame")
    return buf.tobytes()


@dataclass(frozen=True)
class RingFrame:
    """One frame of the ring: ``index`` counts every frame the ring was given, from 0."""

    index: int
    info: FrameInfo
    jpeg: bytes
    result: Mapping[str, Any] | None  # the published result (codec.result_dict), None until it comes


@dataclass
class _Slot:
    index: int
    info: FrameInfo
    jpeg: bytes
    result: Mapping[str, Any] | None = None

    def frozen(self) -> RingFrame:
        return RingFrame(self.index, self.info, self.jpeg, self.result)


class ClipRing:
    """The newest ``seconds`` of one stream's frames, at most ``max_bytes`` of them."""

    def __init__(self, seconds: float, max_bytes: int):
        if seconds < 0 or max_bytes <= 0:
            raise ValueError("a ring needs seconds >= 0 and max_bytes > 0")
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._slots: deque[_Slot] = deque()
        self._bytes = 0
        self._next = 0
        self.evicted_for_bytes = 0  # frames pushed out by the byte cap before their time was up

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def next_index(self) -> int:
        return self._next

    def add(self, info: FrameInfo, jpeg: bytes) -> int:
        """Keep a frame; the oldest go when the ring spans more than its seconds or bytes. Its index."""
        slot = _Slot(self._next, info, jpeg)
        self._next += 1
        self._slots.append(slot)
        self._bytes += len(jpeg) + FRAME_OVERHEAD
        newest = info.t_capture_mono
        while len(self._slots) > 1 and newest - self._slots[0].info.t_capture_mono > self.seconds:
            self._drop()
        while len(self._slots) > 1 and self._bytes > self.max_bytes:
            self._drop()
            self.evicted_for_bytes += 1
        return slot.index

    def attach(self, info: FrameInfo, result: Mapping[str, Any]) -> int | None:
        """Give a kept frame its result; its index, or None when it is not (or no longer) in the ring."""
        for slot in reversed(self._slots):  # results come in for recent frames
            if slot.info.seq == info.seq and slot.info.epoch == info.epoch:
                slot.result = result
                return slot.index
            if slot.info.t_capture_mono < info.t_capture_mono:
                return None
        return None

    def since(self, t_mono: float) -> list[RingFrame]:
        """The frames captured at or after ``t_mono``, oldest first."""
        return [s.frozen() for s in self._slots if s.info.t_capture_mono >= t_mono]

    def from_index(self, index: int) -> list[RingFrame]:
        """The frames from ``index`` on, oldest first (fewer when some were evicted)."""
        return [s.frozen() for s in self._slots if s.index >= index]

    def newest(self) -> RingFrame | None:
        return self._slots[-1].frozen() if self._slots else None

    def clear(self) -> None:
        self._slots.clear()
        self._bytes = 0

    def _drop(self) -> None:
        slot = self._slots.popleft()
        self._bytes -= len(slot.jpeg) + FRAME_OVERHEAD

"""One thread per stream: open, read, reconnect with capped exponential backoff, stamp frames.

The thread owns its ``cv2.VideoCapture``. Each decoded frame is handed to ``emit`` (which
preprocesses it and offers it to the batcher, blocking only for offline files). Every state
change and every counted event goes to a :class:`CaptureEvents` observer, so this module knows
nothing of metrics or publishing.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from streamer.config import CaptureConfig, StreamConfig
from streamer.records import Frame, FrameInfo, StreamState
from streamer.sources import Source, SourceKind, native_fps, open_capture

logger = logging.getLogger(__name__)


class CaptureEvents(Protocol):
    """What a capture thread reports; implemented by the pipeline."""

    def state(self, stream: str, state: StreamState, detail: str) -> None: ...
    def captured(self, stream: str) -> None: ...
    def dropped(self, stream: str, reason: str) -> None: ...
    def reconnected(self, stream: str) -> None: ...


Emit = Callable[[Frame], None]


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with jitter: in [d/2, d] where d = min(cap, initial * 2**attempt)."""
    d = min(cap, initial * (2.0 ** min(attempt, 30)))
    return d * (0.5 + 0.5 * rng.random())


class CaptureWorker(threading.Thread):
    """Reads one stream until stopped; never raises out of ``run``."""

    def __init__(
        self,
        stream: StreamConfig,
        source: Source,
        capture: CaptureConfig,
        emit: Emit,
        events: CaptureEvents,
    ) -> None:
        super().__init__(name=f"capture-{stream.name}", daemon=True)
        self.cfg = stream
        self.source = source
        self.capture_cfg = capture
        self._emit = emit
        self._events = events
        self.stop_event = threading.Event()
        self.heartbeat = time.monotonic()
        self.last_frame_mono: float | None = None
        self.current = StreamState.CONNECTING
        self._seq = 0
        self._epoch = 0
        self._rng = random.Random()

    def stop(self) -> None:
        self.stop_event.set()

    def _set(self, state: StreamState, detail: str = "") -> None:
        if state is not self.current or detail:
            self.current = state
            self._events.state(self.cfg.name, state, detail)

    def _sleep(self, seconds: float) -> bool:
        """Sleep in short steps, keeping the heartbeat fresh; True if asked to stop."""
        end = time.monotonic() + seconds
        while not self.stop_event.is_set():
            self.heartbeat = time.monotonic()
            left = end - self.heartbeat
            if left <= 0:
                return False
            self.stop_event.wait(min(left, 0.5))
        return True

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # a bug here must cost one stream, never the daemon
            logger.exception("stream %s: capture thread failed", self.cfg.name)
            self._set(StreamState.FAILED, "internal error in capture")
        finally:
            self.heartbeat = time.monotonic()

    def _run(self) -> None:
        attempt = 0
        had_frames = False  # has this stream ever been up (a later open is a reconnect)
        looping = False
        while not self.stop_event.is_set():
            if not looping:
                self._set(StreamState.CONNECTING)
            looping = False
            self.heartbeat = time.monotonic()
            cap = open_capture(self.source, self.capture_cfg)
            self.heartbeat = time.monotonic()
            if cap is None:
                if self.source.kind is SourceKind.FILE:
                    self._set(StreamState.FAILED, f"cannot open {self.source.display}")
                    return
                if self._back_off(attempt, f"cannot open {self.source.display}"):
                    break
                attempt += 1
                continue
            try:
                if had_frames:
                    self._epoch += 1
                frames = self._read_loop(cap, reconnect=had_frames and self.source.live)
            finally:
                cap.release()
            if frames:
                had_frames = True
                attempt = 0
            if self.stop_event.is_set():
                break
            if self.source.kind is SourceKind.FILE:
                if not frames:
                    self._set(StreamState.FAILED, f"no decodable frames in {self.source.display}")
                    return
                if self.cfg.loop:
                    logger.debug("stream %s: end of file, looping", self.cfg.name)
                    looping = True
                    continue
                logger.info("stream %s: end of file after %d frames", self.cfg.name, frames)
                self._set(StreamState.STOPPED, "end of file")
                return
            if self._back_off(attempt, "stream lost"):
                break
            attempt += 1
        self._set(StreamState.STOPPED, "stopped")

    def _back_off(self, attempt: int, why: str) -> bool:
        """Wait before the next open; True if asked to stop meanwhile."""
        cfg = self.capture_cfg
        delay = backoff_delay(attempt, cfg.backoff_initial_s, cfg.backoff_max_s, self._rng)
        logger.warning("stream %s: %s; retrying in %.1fs", self.cfg.name, why, delay)
        self._set(StreamState.BACKOFF, f"{why}; retry in {delay:.1f}s")
        return self._sleep(delay)

    def _read_loop(self, cap: cv2.VideoCapture, reconnect: bool) -> int:
        """Read until the source ends or fails or we are stopped; return the frames read."""
        paced = self.source.kind is SourceKind.FILE and self.cfg.realtime
        interval = 1.0 / native_fps(cap) if paced else 0.0
        min_gap = 1.0 / self.cfg.max_fps if self.cfg.max_fps else 0.0
        start = time.monotonic()
        last_kept = -1e9
        count = 0
        while not self.stop_event.is_set():
            if paced:
                # Play a file like a camera: frame n is due at start + n / fps.
                due = start + count * interval
                if due > time.monotonic() and self._sleep(due - time.monotonic()):
                    break
            if not cap.grab():
                break
            now = time.monotonic()
            self.heartbeat = now
            count += 1
            if count == 1:
                self._set(StreamState.UP)
                if reconnect:
                    self._events.reconnected(self.cfg.name)
            self._events.captured(self.cfg.name)
            if min_gap and now - last_kept < min_gap:
                # grab() without retrieve(): skip the colour conversion of frames we will not use.
                self._events.dropped(self.cfg.name, "max_fps")
                self._seq += 1
                continue
            ok, image = cap.retrieve()
            if not ok or image is None:
                self._events.dropped(self.cfg.name, "error")
                self._seq += 1
                continue
            last_kept = now
            h, w = image.shape[:2]
            info = FrameInfo(self.cfg.name, self._seq, self._epoch, time.time(), now, int(w), int(h))
            self._seq += 1
            self.last_frame_mono = now
            self._emit(Frame(info, image.astype(np.uint8, copy=False)))
        return count

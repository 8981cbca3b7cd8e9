"""A capture thread playing a file: once, or looping (seek back, or reopen a replaced file at its own
rate), and what ends it: the end of the file, or a file that is not a usable video.

A looping file whose frames stop decoding partway (a truncated tail, a damaged middle) plays the
part that decodes, with one warning and the lost frames counted as corrupt; without ``loop`` such
a file fails its stream.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import cv2

from streamer.capture_policy import FileId, Pacer, file_id, file_problem, missing_frames
from streamer.config import StreamConfig
from streamer.records import StreamState
from streamer.sources import Capture, Source, declared_frames, native_fps

logger = logging.getLogger("streamer.capture")


class Player(Protocol):
    """What file playback uses of its capture thread (:class:`~streamer.capture.CaptureWorker`)."""

    cfg: StreamConfig
    source: Source
    stop_event: threading.Event
    heartbeat: float
    epoch: int
    corrupt_in_pass: int

    def clock(self) -> float: ...
    def set_media_rate(self, fps: float) -> None: ...
    def set_state(self, state: StreamState, detail: str = "") -> None: ...
    def open_source(self, attempt: int = 0) -> Capture | None: ...
    def read_frames(self, cap: Capture, reconnect: bool, pacer: Pacer | None = None) -> int: ...
    def drop_corrupt(self, frames: int) -> None: ...
    def fail_unless_stopped(self, why: str) -> None: ...


def play_file(w: Player) -> None:
    """Read a file once, or over and over with ``loop``, until it ends, fails or ``w`` is stopped."""
    name, display = w.cfg.name, w.source.display
    w.set_state(StreamState.CONNECTING)
    cap = w.open_source()
    if cap is None:
        w.fail_unless_stopped(f"cannot open {display}")
        return
    fps = native_fps(cap)
    w.set_media_rate(fps)
    pacer = Pacer(fps) if w.cfg.realtime else None
    opened = file_id(str(w.source.target))
    warned = False
    try:
        while True:
            w.corrupt_in_pass = 0
            frames = w.read_frames(cap, reconnect=False, pacer=pacer)
            if w.stop_event.is_set():
                break
            declared = declared_frames(cap)
            problem = file_problem(frames, declared)
            missing = missing_frames(frames, declared)
            if problem is not None and not (w.cfg.loop and missing and frames > 1):
                logger.error("stream %s: %s: %s", name, display, problem)
                w.set_state(StreamState.FAILED, problem)
                return
            if not w.cfg.loop:
                logger.info("stream %s: end of file after %d frames", name, frames)
                w.set_state(StreamState.STOPPED, "end of file")
                return
            if missing:
                if not warned:
                    warned = True
                    logger.warning("stream %s: %s: %s; looping over the frames that decode", name, display, problem)
                w.drop_corrupt(max(0, missing - w.corrupt_in_pass))
            logger.debug("stream %s: end of file, looping", name)
            w.epoch += 1  # the clip jumps back: a new sequence
            cap, opened, reopened = rewind(w, cap, opened)
            if cap is None:
                w.fail_unless_stopped(f"cannot open {display} again: deleted or not a video")
                return
            if reopened:  # a replaced clip plays, and is timed, at its own rate
                fps = native_fps(cap)
                w.set_media_rate(fps)
                pacer = Pacer(fps) if pacer is not None else None
                warned = False
    finally:
        if cap is not None:
            cap.release()
        w.heartbeat = w.clock()
    w.set_state(StreamState.STOPPED, "stopped")


def rewind(w: Player, cap: Capture, opened: FileId | None) -> tuple[Capture | None, FileId | None, bool]:
    """Back to the first frame: seek if the file is unchanged, else reopen it (None if it is gone).

    Returns the capture, the file's identity and whether it was reopened. Seeking keeps a looping
    file clear of the open lock in OpenCV's FFmpeg backend, which holds every open (this file's
    too) while any camera is being opened.
    """
    target = str(w.source.target)
    if opened is not None and file_id(target) == opened and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
        return cap, opened, False
    cap.release()
    return w.open_source(), file_id(target), True

"""The event clip recorder of one stream: from the rules' verdicts to clips handed to the writer.

A clip starts when a rule begins firing, with ``pre_s`` seconds of frames from the ring; it goes on
while any rule fires and ends ``post_s`` after the last frame one fired on, capped at ``max_s`` (a
rule still firing then starts the next clip where this one stopped). Frames reach the writer in
capture order once their result is known: a frame inference skipped gets none, and is sent when a
later frame's result has come or it has waited ``settle_s``. All times are the frames' own
monotonic capture times; ``tick`` brings a clip to its end when its stream has gone quiet.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2

from streamer.clip_events import ClipStarted, OnClipEvent
from streamer.clip_file import ClipSpec
from streamer.clip_ring import ClipRing, RingFrame, encode_frame
from streamer.clip_store import ClipStore
from streamer.clip_writer import ClipWriter
from streamer.events_config import EventsConfig
from streamer.records import FrameInfo, Image, Result
from streamer.rules import RuleSet, Verdict
from streamer.zones import Update

logger = logging.getLogger(__name__)

_ids = itertools.count(1)


@dataclass
class _Active:
    spec: ClipSpec
    start_t: float  # capture time the clip may begin at
    cap_t: float  # ... and the latest it may reach (max_s)
    end_t: float  # post_s after the last frame a rule fired on
    cursor: int  # the ring index of the next frame to send


class ClipRecorder:
    """One stream's recorder. ``on_frame`` (capture side) and ``on_result`` (inference side) may be
    called from different threads; neither ever waits on the disk or the encoder."""

    def __init__(  # noqa: PLR0913  (the keyword-only collaborators are injected, tests pass fakes)
        self,
        stream: str,
        events: EventsConfig,
        rules: RuleSet,
        *,
        store: ClipStore,
        writer: ClipWriter,
        on_event: OnClipEvent,
        settle_s: float = 1.0,
    ):
        self.stream = stream
        self.events = events
        self.rules = rules
        self.store = store
        self.writer = writer
        self.on_event = on_event
        self.settle_s = settle_s
        self.ring = ClipRing(events.ring_seconds, int(events.ring_bytes))
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self._firing: tuple[str, ...] = ()
        self._sent = 0  # ring index below which every frame belongs to an earlier clip (or none)
        self._settled_index = -1  # the newest ring frame with a result
        self._now = float("-inf")
        self._epoch = 0
        self.bad_frames = 0  # frames that could not be encoded into the ring

    @property
    def recording(self) -> bool:
        return self._active is not None

    def on_frame(self, info: FrameInfo, image: Image) -> None:
        """A captured frame: encoded at clip size (outside the lock) and kept in the ring."""
        try:
            jpeg = encode_frame(image, self.events.width, self.events.jpeg_quality)
        except (ValueError, cv2.error) as exc:  # an empty or malformed image: the stream goes on without it
            self.bad_frames += 1
            logger.debug("clips: %s: frame %d not kept: %s", self.stream, info.seq, exc)
            return
        self.on_encoded(info, jpeg)

    def on_encoded(self, info: FrameInfo, jpeg: bytes) -> None:
        """A captured frame already at clip size and JPEG-encoded (by a capture process)."""
        with self._lock:
            self.ring.add(info, jpeg)
            self._now = max(self._now, info.t_capture_mono)
            self._pump()

    def on_result(self, result: Result, result_dict: Mapping[str, Any], update: Update | None = None) -> Verdict:
        """A processed frame: its published result, and the zone counter's update for it."""
        info = result.info
        if info.epoch != self._epoch:  # the camera reconnected: what held before the gap holds no more
            self.rules.reset()
            self._epoch = info.epoch
        verdict = self.rules.feed(result, update)
        with self._lock:
            index = self.ring.attach(info, result_dict)
            if index is not None:  # every frame before it is settled: inference went past them
                self._settled_index = max(self._settled_index, index)
            self._firing = verdict.firing
            t = info.t_capture_mono
            if self._active is None and verdict.started:
                self._start(verdict.started[0], t, info.t_capture_wall, t - self.events.pre_s)
            elif self._active is not None and verdict.firing:
                self._active.end_t = max(self._active.end_t, t + self.events.post_s)
            self._pump()
        return verdict

    def tick(self, now_mono: float) -> None:
        """Time passes without frames (the stream is down): frames wait ``settle_s`` at most, clips end."""
        with self._lock:
            self._now = max(self._now, now_mono)
            self._pump()

    def close(self) -> None:
        """The stream is going away: the clip ends with what it has."""
        with self._lock:
            self._now = float("inf")
            self._pump()
            if self._active is not None:
                self._end(cut_short=False)
            self.ring.clear()

    def _start(self, rule: str, t: float, t_wall: float, start_t: float) -> None:
        frames = self.ring.since(start_t)
        first = next((f for f in frames if f.index >= self._sent), None)
        cursor = first.index if first else self.ring.next_index
        t_first = first.info.t_capture_wall if first else t_wall
        spec = ClipSpec(next(_ids), self.stream, rule, self.store.paths(self.stream, rule, t_first))
        start = first.info.t_capture_mono if first else t
        self._active = _Active(spec, start, start + self.events.max_s, t + self.events.post_s, cursor)
        self.writer.open(spec)
        self.on_event(ClipStarted(self.stream, rule, str(spec.paths.mp4), t_wall))

    def _pump(self) -> None:
        """Send the settled frames of the active clip; end it at its end or its cap."""
        active = self._active
        if active is None:
            return
        for frame in self.ring.from_index(active.cursor):
            if not self._settled(frame):
                return
            t = frame.info.t_capture_mono
            if t > active.end_t or t > active.cap_t:
                capped = active.cap_t < t <= active.end_t
                self._end(cut_short=False)
                if capped and self._firing:
                    self._start(self._firing[0], t, frame.info.t_capture_wall, t)
                    self._pump()
                return
            if not self.writer.frame(active.spec.clip_id, frame):
                self._end(cut_short=True)
                return
            active.cursor = frame.index + 1
            self._sent = active.cursor
        if self._now > active.end_t + self.settle_s:
            self._end(cut_short=False)  # quiet past the end: no frame will come to close it

    def _settled(self, frame: RingFrame) -> bool:
        return (
            frame.result is not None
            or frame.index <= self._settled_index
            or self._now - frame.info.t_capture_mono > self.settle_s
        )

    def _end(self, cut_short: bool) -> None:
        if self._active is None:
            return
        self.writer.close(self._active.spec.clip_id, cut_short)
        self._sent = max(self._sent, self._active.cursor)
        if cut_short:  # whatever the writer refused is not to open the next clip
            self._sent = self.ring.next_index
        self._active = None

"""The clip writer: one thread that encodes clips to H.264 MP4 with PyAV, off the frame path.

Recorders hand it frames through a queue bounded in bytes; a frame that does not fit is refused at
once (the recorder then cuts its clip short), so no caller ever waits. Each clip is written under a
temporary name and renamed when complete, its JSON sidecar beside it. A failing disk fails the
clip, is logged once per episode and counted; the thread itself never dies.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import av
import cv2
import numpy as np

from streamer.clip_events import ClipDone, ClipError, ClipFailed, OnClipEvent
from streamer.clip_file import ClipFile, ClipSpec
from streamer.clip_inbox import Inbox
from streamer.clip_ring import RingFrame
from streamer.clip_store import ClipStore, Episodes, reason_of
from streamer.records import Image

logger = logging.getLogger(__name__)

Draw = Callable[[Image, Mapping[str, Any]], Image]


@dataclass(frozen=True)
class ClipCounts:
    done: int = 0
    frames: int = 0
    bytes: int = 0
    deleted: int = 0  # old clips deleted to keep within the disk budget
    errors: Mapping[ClipError, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Open:
    spec: ClipSpec


@dataclass(frozen=True)
class _Frame:
    clip_id: int
    frame: RingFrame


@dataclass(frozen=True)
class _Close:
    clip_id: int
    cut_short: bool


class ClipWriter:
    """Writes the clips of every stream, one at a time per frame, in its own thread."""

    def __init__(
        self,
        store: ClipStore,
        on_event: OnClipEvent,
        *,
        crf: int = 26,
        draw: Draw | None = None,
        queue_bytes: int = 64 * 2**20,
        threads: int = 1,
    ):
        self.store = store
        self.on_event = on_event
        self.crf = crf
        self.draw = draw
        # x264 on one thread by default: clips are not urgent, and the cores belong to inference.
        self.threads = threads
        self._inbox: Inbox[_Open | _Frame | _Close] = Inbox(queue_bytes)
        self._clips: dict[int, ClipFile] = {}
        self._episodes = Episodes()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._errors: Counter[ClipError] = Counter()
        self._thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)

    # -- called by recorders (any thread; never blocks) -------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def open(self, spec: ClipSpec) -> None:
        self._inbox.post(_Open(spec))

    def frame(self, clip_id: int, frame: RingFrame) -> bool:
        """Queue a frame; False when the queue is full (the caller cuts the clip short)."""
        return self._inbox.offer(_Frame(clip_id, frame), len(frame.jpeg))

    def close(self, clip_id: int, cut_short: bool = False) -> None:
        self._inbox.post(_Close(clip_id, cut_short))

    def stop(self, timeout: float = 10.0) -> bool:
        """Finish what is queued, close open clips as they are, end the thread; False if it did not in time."""
        self._inbox.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def counts(self) -> ClipCounts:
        with self._lock:
            c = self._counts
            return ClipCounts(c["done"], c["frames"], c["bytes"], self.store.deleted, dict(self._errors))

    # -- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        self.store.remove_stale()
        try:
            self.store.enforce_budget()  # max_bytes may have shrunk since the last run
        except OSError as exc:
            logger.warning("clips: cannot check the disk budget of %s: %s", self.store.root, exc)
        while (item := self._inbox.get()) is not None:
            try:
                self._handle(item)
            except Exception as exc:  # a bug here must cost one clip, never the thread
                logger.exception("clips: unexpected failure")
                clip_id = item.spec.clip_id if isinstance(item, _Open) else item.clip_id
                if clip_id in self._clips:
                    self._fail(self._clips.pop(clip_id), ClipError.ENCODE, repr(exc))
        for clip in list(self._clips.values()):
            self._finish(clip, cut_short=False)
        self._clips.clear()

    def _handle(self, item: _Open | _Frame | _Close) -> None:
        if isinstance(item, _Open):
            self._clips[item.spec.clip_id] = ClipFile(item.spec, self.crf, self.threads)
            return
        clip = self._clips.get(item.clip_id)
        if clip is None:
            return  # failed already: its remaining frames are dropped
        if isinstance(item, _Close):
            del self._clips[item.clip_id]
            if item.cut_short and clip.frames:  # (one without frames fails in _finish)
                self._count_error(ClipError.BEHIND)
                self._episodes.failed(ClipError.BEHIND, f"{clip.spec.paths.mp4} cut short: the writer fell behind")
            self._finish(clip, item.cut_short)
            return
        try:
            self._encode(clip, item.frame)
        except (OSError, av.FFmpegError) as exc:
            del self._clips[item.clip_id]
            self._fail(clip, reason_of(exc), _detail(exc))

    def _encode(self, clip: ClipFile, frame: RingFrame) -> None:
        decoded = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            return  # the ring only holds what it encoded itself; skip rather than fail the clip
        image = cast(Image, decoded)
        if frame.result is not None:
            clip.last_result = frame.result
        if self.draw is not None and clip.last_result is not None:
            image = self._drawn(self.draw, image, clip.last_result)
        clip.add(frame, image)

    def _drawn(self, draw: Draw, image: Image, result: Mapping[str, Any]) -> Image:
        try:
            return draw(image, result)
        except Exception:  # a drawing bug must not cost the clip: write the rest plain
            logger.exception("clips: the annotation drawer failed; clips are written without annotations")
            self.draw = None
            return image

    def _finish(self, clip: ClipFile, cut_short: bool) -> None:
        if not clip.frames:  # no frame ever reached the writer: nothing to keep
            self._fail(clip, ClipError.BEHIND if cut_short else ClipError.NO_FRAMES, "no frames")
            return
        try:
            size = clip.finish(cut_short)
        except (OSError, av.FFmpegError) as exc:
            self._fail(clip, reason_of(exc), _detail(exc))
            return
        with self._lock:
            self._counts.update(done=1, frames=clip.frames, bytes=size)
        self._episodes.succeeded()
        s = clip.spec
        self.on_event(
            ClipDone(s.stream, s.rule, str(s.paths.mp4), round(clip.seconds, 3), clip.frames, size, cut_short)
        )
        try:
            self.store.enforce_budget(keep=s.paths)
        except OSError as exc:
            logger.warning("clips: cannot check the disk budget of %s: %s", self.store.root, exc)

    def _fail(self, clip: ClipFile, reason: ClipError, detail: str) -> None:
        clip.abort()
        self._count_error(reason)
        self._episodes.failed(reason, f"cannot write {clip.spec.paths.mp4}: {detail}")
        s = clip.spec
        self.on_event(ClipFailed(s.stream, s.rule, str(s.paths.mp4), reason, detail))

    def _count_error(self, reason: ClipError) -> None:
        with self._lock:
            self._errors[reason] += 1


def _detail(exc: Exception) -> str:
    """An error in a few words; the path is said elsewhere."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)

"""Capture -> preprocess -> batcher for a stream captured by a thread of this process.

Capture processes do the same hop in the child (:mod:`streamer.capture_proc`), into shared memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from streamer.batcher import Batcher
from streamer.prepare import FramePreparer
from streamer.records import DropReason, Frame
from streamer.taps import FrameTaps


class Handoff:
    """Called by the capture thread with each decoded frame."""

    def __init__(
        self,
        stream: str,
        batcher: Batcher,
        preparer: FramePreparer,
        dropped: Callable[[str, DropReason], None],
        taps: FrameTaps | None = None,
    ) -> None:
        self.stream = stream
        self.batcher = batcher
        self.preparer = preparer
        self._dropped = dropped
        self._taps = taps if taps else None
        # The capture thread's own stop event once it exists: an offline stream's put waits on it.
        self.stop_event = threading.Event()

    def __call__(self, frame: Frame) -> None:
        if self._taps is not None and self._taps.wants(self.stream):
            self._taps.offer(frame.info, frame.image)  # the live view and clip rings see every frame inference may skip
        if self.batcher.busy(self.stream):
            # Inference has not taken this stream's previous frame: skip preprocessing this one
            # (counted) so capture keeps pace with the camera under overload.
            self._dropped(self.stream, DropReason.SUPERSEDED)
            return
        self.batcher.put(self.preparer(frame), self.stop_event)

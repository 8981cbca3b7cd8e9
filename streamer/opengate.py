"""One FFmpeg open at a time, taken in priority order, waited for in steps that keep the caller alive.

OpenCV's FFmpeg backend holds a single process-wide lock over every ``VideoCapture`` open: while
one camera's open runs (up to its ``open_timeout_s`` when the camera accepts a connection and never
answers), every other open waits inside OpenCV, out of reach of timeouts, stop requests and
heartbeats. With several such cameras a healthy camera's reconnect waited for all of them and its
capture thread looked hung to the watchdog.

The gate moves that wait into Python, where it is visible and ordered: a waiter calls its
``keep_alive`` (refresh a heartbeat; return False to give up) every ``step_s``, and the lowest
priority number goes first (ties in arrival order). Capture threads pass their count of failed
attempts, so a camera that just dropped reconnects before cameras that have been failing for a
while, and a file (priority 0) is not held up behind a dead camera's retries.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable


class OpenGate:
    def __init__(self, step_s: float = 0.25) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._queue: list[tuple[int, int]] = []  # (priority, ticket), a heap
        self._tickets = itertools.count()
        self._step_s = step_s

    def acquire(self, priority: int, keep_alive: Callable[[], bool]) -> bool:
        """Wait for this caller's turn; False if ``keep_alive`` said to give up first."""
        entry = (priority, next(self._tickets))
        with self._cond:
            heapq.heappush(self._queue, entry)
            try:
                while self._busy or self._queue[0] != entry:
                    if not keep_alive():
                        return False
                    self._cond.wait(self._step_s)
                self._busy = True
                return True
            finally:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
                self._cond.notify_all()  # the head of the queue may have changed

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)


# OpenCV's lock is per process, so is its mirror.
FFMPEG_OPENS = OpenGate()

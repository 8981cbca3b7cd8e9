"""The daemon's signal queue, installed before anything slow is imported.

``streamer run`` installs it first thing: importing OpenCV and ONNX Runtime and loading models
takes a while, and a SIGTERM or SIGHUP in that window must not kill the process with the default
action. Handlers only enqueue; the supervisor dispatches (and start-up checks for a stop request
between its phases).
"""

from __future__ import annotations

import queue
import signal
import threading
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOPPING = (signal.SIGTERM, signal.SIGINT)


class SignalQueue:
    """Signals received, in order; ``stop_requested`` is set by the first SIGTERM or SIGINT."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()  # reentrant: safe in a handler
        self.stop_requested = threading.Event()

    def install(self) -> SignalQueue:
        for sig in HANDLED:
            signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._queue.put(signum)
        if signum in STOPPING:
            self.stop_requested.set()

    def get(self, timeout: float) -> int | None:
        """The next signal, or None after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

"""What a capture thread decides without touching a camera: when a file is unusable, how long to back
off, when a paced frame is due, and how the thread ranks against inference on the CPU."""

from __future__ import annotations

import logging
import os
import random
import threading

logger = logging.getLogger("streamer.capture")

# A file that ends before this share of the frames its container declares is truncated or corrupt
# (container counts derived from the duration are close, never off by this much).
TRUNCATED_SHARE = 0.9


def file_problem(frames: int, declared: int | None) -> str | None:
    """Why one pass over a file shows it is not a usable video, or None.

    A still image decodes as a one-frame "video"; a file cut short or corrupted in the middle
    ends well before the frame count its container declares. Either would otherwise play (or
    loop) quietly as if it were fine.
    """
    if frames == 0:
        return "no decodable frames"
    if frames == 1:
        return "only one frame: a still image, not a video"
    if declared is not None and frames < TRUNCATED_SHARE * declared:
        return f"ended after {frames} of {declared} frames: the file is truncated or corrupt"
    return None


FileId = tuple[int, int, int, int]  # device, inode, size, mtime: the same file, unchanged


def file_id(path: str) -> FileId | None:
    """What identifies a file's content cheaply; None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with jitter: in [d/2, d] where d = min(cap, initial * 2**attempt)."""
    d = min(cap, initial * (2.0 ** min(attempt, 30)))
    return d * (0.5 + 0.5 * rng.random())


_nice_refused = threading.Event()  # warn once per process, not once per stream


def lower_priority(nice: int) -> None:
    """Add ``nice`` to the calling thread's niceness (Linux sets it per thread); warn once if refused.

    Capture threads decode in parallel while inference is one serial stage: on few cores, CFS
    shares a core between them equally and inference waits behind decoding. Measured with
    ``streamer bench`` (4 streams, 2 cores): +10 raised pipeline frames/s by about a quarter.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as e:
        if not _nice_refused.is_set():
            _nice_refused.set()
            logger.warning("cannot lower the capture threads' priority (%s); inference shares cores with decoding", e)


class Pacer:
    """Plays a file like a camera: one frame every ``1 / fps`` seconds, on a schedule.

    The schedule runs on across the loops of a looping file, so the time spent rewinding it is
    made up by the next frames and the stream keeps its native rate. A lag beyond ``MAX_LAG_S``
    (the machine was starved) restarts the schedule from now rather than bursting to catch up.
    """

    MAX_LAG_S = 0.5

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._due: float | None = None

    def wait(self, now: float) -> float:
        """Seconds until the next frame is due (zero or less: read it now)."""
        if self._due is None or now - self._due > self.MAX_LAG_S:
            self._due = now
        return self._due - now

    def advance(self) -> None:
        """A frame was read: the next one is due one interval after this one."""
        assert self._due is not None, "wait() before advance()"
        self._due += self.interval


def missing_frames(frames: int, declared: int | None) -> int:
    """Frames a file's container declares beyond the ``frames`` that decoded, when it ends that early."""
    if declared is None or frames >= TRUNCATED_SHARE * declared:
        return 0
    return declared - frames


class CorruptRun:
    """A run of reads that returned no frame, and when such a run means the source is gone.

    OpenCV's ``grab()`` says False both for a frame it cannot decode (a corrupt JPEG in an MJPEG
    feed, a damaged slice) and for the end of the source; the next ``grab()`` tells them apart:
    after a corrupt frame it returns the next good one, after the end it fails again at once. So
    a run of failures counts as corrupt frames only when a frame ends it, and a run longer than
    ``limit`` reads or ``window_s`` seconds means the source is lost (or the file ended).
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._length = 0
        self._since = 0.0

    def failed(self, now: float) -> bool:
        """One more read without a frame; True when the run says the source is gone."""
        if self._length == 0:
            self._since = now
        self._length += 1
        return self._length > self.limit or now - self._since >= self.window_s

    def recovered(self) -> int:
        """A frame decoded: how many reads of the run before it were corrupt frames (and reset)."""
        length, self._length = self._length, 0
        return length

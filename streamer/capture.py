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
from dataclasses import dataclass
from typing import Protocol

from streamer.capture_file import play_file
from streamer.capture_policy import CorruptRun, Pacer, backoff_delay, lower_priority
from streamer.config import CaptureConfig, StreamConfig
from streamer.picture import frame_of, picture_size
from streamer.records import DropReason, Frame, FrameInfo, StreamState
from streamer.sources import Capture, Source, SourceKind, open_capture, plays_offline, retrieve

logger = logging.getLogger(__name__)


class CaptureEvents(Protocol):
    """What a capture thread reports; implemented by the pipeline."""

    def state(self, stream: str, state: StreamState, detail: str) -> None: ...
    def captured(self, stream: str) -> None: ...
    def dropped(self, stream: str, reason: DropReason) -> None: ...
    def reconnected(self, stream: str) -> None: ...


Emit = Callable[[Frame], None]


@dataclass(frozen=True)
class Start:
    """How a capture starts: FFmpeg's decoder threads (0: its own choice) and the stream's numbering,
    which a stream moved to a restarted capture process continues."""

    decoder_threads: int = 0
    seq: int = 0
    epoch: int = 0


class CaptureWorker(threading.Thread):
    """Reads one stream until stopped; never raises out of ``run``.

    Time comes from ``clock`` and waits go through ``_sleep``: a test replaces both to run the
    worker on logical time (pacing, backoff) over a real decoder.
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        stream: StreamConfig,
        source: Source,
        capture: CaptureConfig,
        emit: Emit,
        events: CaptureEvents,
        start: Start = Start(),
    ) -> None:
        super().__init__(name=f"capture-{stream.name}", daemon=True)
        self.cfg = stream
        self.source = source
        self.capture_cfg = capture
        self._emit = emit
        self._events = events
        self.stop_event = threading.Event()
        self.heartbeat = self.clock()
        self.last_frame_mono: float | None = None
        self.current = StreamState.CONNECTING
        self.decoder_threads = start.decoder_threads
        self._seq = start.seq
        self.epoch = start.epoch
        self._rng = random.Random()
        self.corrupt_in_pass = 0  # corrupt frames counted in the current pass over the source
        self._media: tuple[float, int, float] | None = None  # a file's clock: (seconds, at seq, fps)

    def stop(self) -> None:
        self.stop_event.set()

    def set_media_rate(self, fps: float) -> None:
        """Stamp the frames from here on with their time in a file played at ``fps``.

        The clock runs on from where it was, so a looping file replaced by one of another rate
        keeps a timeline that only goes forward.
        """
        base = 0.0
        if self._media is not None:
            t0, seq0, old = self._media
            base = t0 + (self._seq - seq0) / old
        self._media = (base, self._seq, fps)

    def set_state(self, state: StreamState, detail: str = "") -> None:
        if state is not self.current or detail:
            self.current = state
            self._events.state(self.cfg.name, state, detail)

    def _sleep(self, seconds: float) -> bool:
        """Sleep in short steps, keeping the heartbeat fresh; True if asked to stop."""
        end = self.clock() + seconds
        while not self.stop_event.is_set():
            self.heartbeat = self.clock()
            left = end - self.heartbeat
            if left <= 0:
                return False
            self.stop_event.wait(min(left, 0.5))
        return True

    def run(self) -> None:
        offline = plays_offline(self.source, self.cfg)
        lower_priority(self.capture_cfg.offline_thread_nice if offline else self.capture_cfg.thread_nice)
        try:
            self._run()
        except Exception:  # a bug here must cost one stream, never the daemon
            logger.exception("stream %s: capture thread failed", self.cfg.name)
            self.set_state(StreamState.FAILED, "internal error in capture")
        finally:
            self.heartbeat = self.clock()

    def _run(self) -> None:
        if self.source.kind is SourceKind.FILE:
            play_file(self)
        else:
            self._follow_live()

    def drop_corrupt(self, frames: int) -> None:
        """Count ``frames`` undecodable frames as dropped (reason "corrupt")."""
        for _ in range(frames):
            self._events.dropped(self.cfg.name, DropReason.CORRUPT)
        self.corrupt_in_pass += frames

    def fail_unless_stopped(self, why: str) -> None:
        """FAILED for ``why``, or STOPPED when that failure came from being asked to stop."""
        if self.stop_event.is_set():
            self.set_state(StreamState.STOPPED, "stopped")
        else:
            self.set_state(StreamState.FAILED, why)

    def open_source(self, attempt: int = 0) -> Capture | None:
        """Open the source; None if it cannot be opened now or we were stopped while waiting our turn."""
        self.heartbeat = self.clock()
        cap = open_capture(self.source, self.capture_cfg, attempt, self._still_wanted, self.decoder_threads)
        self.heartbeat = self.clock()
        return cap

    def _still_wanted(self) -> bool:
        """Called while waiting to open: the thread is alive, so its heartbeat stays fresh."""
        self.heartbeat = self.clock()
        return not self.stop_event.is_set()

    def _follow_live(self) -> None:
        """Open, read until the source is lost, back off, reopen; until stopped."""
        attempt = 0
        had_frames = False  # has this stream ever been up (a later open is a reconnect)
        while not self.stop_event.is_set():
            self.set_state(StreamState.CONNECTING)
            cap = self.open_source(attempt)
            if cap is None:
                if self.stop_event.is_set() or self._back_off(attempt, f"cannot open {self.source.display}"):
                    break
                attempt += 1
                continue
            retry_at = 0.0
            try:
                if had_frames:
                    self.epoch += 1
                if self.read_frames(cap, reconnect=had_frames):
                    had_frames = True
                    attempt = 0
                if not self.stop_event.is_set():
                    # Report the loss before release(): closing a session with a silent server
                    # waits out its own timeouts, and the stream is down already. The backoff
                    # runs from now, so that wait counts against it.
                    retry_at = self.clock() + self._announce_backoff(attempt, "stream lost")
            finally:
                cap.release()
                self.heartbeat = self.clock()
            if self.stop_event.is_set() or self._sleep(max(0.0, retry_at - self.clock())):
                break
            attempt += 1
        self.set_state(StreamState.STOPPED, "stopped")

    def _announce_backoff(self, attempt: int, why: str) -> float:
        """Enter BACKOFF for this attempt; return the delay before the next open."""
        cfg = self.capture_cfg
        delay = backoff_delay(attempt, cfg.backoff_initial_s, cfg.backoff_max_s, self._rng)
        logger.warning("stream %s: %s; retrying in %.1fs", self.cfg.name, why, delay)
        self.set_state(StreamState.BACKOFF, f"{why}; retry in {delay:.1f}s")
        return delay

    def _back_off(self, attempt: int, why: str) -> bool:
        """Wait before the next open; True if asked to stop meanwhile."""
        return self._sleep(self._announce_backoff(attempt, why))

    def read_frames(self, cap: Capture, reconnect: bool, pacer: Pacer | None = None) -> int:
        """Read until the source ends or fails or we are stopped; return the frames read."""
        min_gap = 1.0 / self.cfg.max_fps if self.cfg.max_fps else 0.0
        live = self.source.live
        read_timeout = self.capture_cfg.read_timeout_s
        last_kept = -1e9
        count = 0
        run = CorruptRun(self.capture_cfg.max_corrupt_run, read_timeout)
        while not self.stop_event.is_set():
            if pacer is not None:
                wait = pacer.wait(self.clock())
                if wait > 0 and self._sleep(wait):
                    break
            before = self.clock()
            grabbed = cap.grab()
            now = self.clock()
            self.heartbeat = now
            if live and now - before >= read_timeout:
                # The read timed out. Even when grab() succeeded, that was FFmpeg draining the
                # frames its decoder threads still held after the interrupt, one more timeout
                # each. The source is gone.
                logger.debug("stream %s: read took %.1fs; treating it as lost", self.cfg.name, now - before)
                break
            if not grabbed:
                # A corrupt frame, or the end of the source: the next reads tell (see CorruptRun).
                if run.failed(now):
                    break
                continue
            self._recovered(run)
            if pacer is not None:
                pacer.advance()
            count += 1
            if count == 1:
                self._up(reconnect)
            self._events.captured(self.cfg.name)
            if min_gap and now - last_kept < min_gap:
                # grab() without retrieve(): skip the colour conversion of frames we will not use.
                self._events.dropped(self.cfg.name, DropReason.MAX_FPS)
                self._seq += 1
                continue
            if self._deliver(cap, now):
                last_kept = now
        return count

    def _recovered(self, run: CorruptRun) -> None:
        """A frame decoded: the undecodable ones before it count as dropped, and as a gap in seq."""
        corrupt = run.recovered()
        if corrupt:
            self.drop_corrupt(corrupt)
            self._seq += corrupt

    def _up(self, reconnect: bool) -> None:
        self.set_state(StreamState.UP)
        if reconnect:
            self._events.reconnected(self.cfg.name)

    def _deliver(self, cap: Capture, now: float) -> bool:
        """Decode the grabbed frame and hand it on; False (counted) if it did not decode."""
        picture = retrieve(cap)
        if picture is None:
            self._events.dropped(self.cfg.name, DropReason.ERROR)
            self._seq += 1
            return False
        w, h = picture_size(picture)
        t_media = None
        if self._media is not None:
            base, seq0, fps = self._media
            t_media = base + (self._seq - seq0) / fps
        info = FrameInfo(self.cfg.name, self._seq, self.epoch, time.time(), now, w, h, t_media)
        self._seq += 1
        self.last_frame_mono = now
        self._emit(frame_of(info, picture))
        return True

"""Capture processes, seen from the daemon: each owns a share of the streams (decode + preprocess).

The pool starts processes as streams arrive (up to ``[capture] workers``), gives each new stream
to the process with the fewest, and turns what comes up each process's pipe into what the
in-process capture threads produce: frames offered to the batcher (their tensors read in place,
in shared memory) and calls on the same :class:`~streamer.capture.CaptureEvents` observer. A
process that dies is started again with its streams, which resume in a new epoch; the other
processes' streams never notice.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from streamer import capture_proc
from streamer.batcher import WAIT_DEPTH, Batcher, Policy
from streamer.capture import CaptureEvents
from streamer.capture_remote import CaptureProc, RemoteStream
from streamer.capture_wire import (
    Beat,
    Counts,
    FrameReady,
    ReleaseSlot,
    StateChanged,
    Stop,
    StreamGone,
    TapFrame,
    WorkerSetup,
)
from streamer.config import CaptureConfig, StreamConfig
from streamer.modelspec import InputSpec
from streamer.records import FrameInfo, ModelInput, Prepared, SlotRef, StreamState
from streamer.slots import SlotLayout, SlotSegment
from streamer.sources import Source

logger = logging.getLogger(__name__)

# A process that lived shorter than this before dying counts as failing at start: its restarts back off.
STABLE_S = 10.0
RESTART_MAX_DELAY_S = 10.0


class PoolEvents(CaptureEvents, Protocol):
    def capture_restarted(self) -> None: ...
    def tapped(self, info: FrameInfo, jpeg: bytes) -> None: ...


class CapturePool:
    """Starts, feeds, watches and restarts the capture processes of one pipeline."""

    def __init__(
        self,
        capture: CaptureConfig,
        specs: Mapping[str, InputSpec],
        batcher: Batcher,
        events: PoolEvents,
        *,
        max_procs: int,
        log_level: int = logging.INFO,
    ) -> None:
        self._capture = capture
        self._specs = dict(specs)
        self._batcher = batcher
        self._events = events
        self._max_procs = max(1, max_procs)
        self._log_level = log_level
        # Offline streams have up to WAIT_DEPTH frames waiting and one being copied into a batch.
        self._layout = SlotLayout.of(self._specs, WAIT_DEPTH + 1)
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[CaptureProc] = []
        self._lock = threading.Lock()
        self._generations = itertools.count(1)
        self._closing = False

    # -- streams -----------------------------------------------------------------------------
    def add(self, cfg: StreamConfig, source: Source, offline: bool, decoder_threads: int) -> RemoteStream:
        """A stream placed on the least busy process (a new one while below the limit); start() sends it."""
        stream = RemoteStream(cfg, source, offline, decoder_threads)
        with self._lock:
            if len(self._procs) < self._max_procs:
                proc = self._spawn(len(self._procs))
                self._procs.append(proc)
            else:
                proc = min(self._procs, key=lambda p: len(p.streams))
            self._attach(stream, proc)
        return stream

    def _attach(self, stream: RemoteStream, proc: CaptureProc) -> None:
        """A new segment and generation for ``stream`` on ``proc``, and its channel in the batcher."""
        old = stream.segment
        stream.segment = SlotSegment(self._layout)
        stream.generation = next(self._generations)  # frames of the old segment are ignored from here
        stream.proc = proc
        proc.streams[stream.name] = stream
        policy = Policy.WAIT if stream.offline else Policy.LATEST
        self._batcher.unregister(stream.name)  # frames still waiting are of the old generation
        self._batcher.register(stream.name, policy, stream.release)
        if old is not None:
            old.close()  # its memory goes with the last frame in flight that views it

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, index: int) -> CaptureProc:
        ours, theirs = self._ctx.Pipe(duplex=True)
        setup = WorkerSetup(index, self._capture, self._specs, self._layout, self._log_level, WAIT_DEPTH)
        process = self._ctx.Process(
            target=capture_proc.main, args=(theirs, setup), name=f"streamer-capture-{index}", daemon=True
        )
        process.start()
        theirs.close()
        proc = CaptureProc(index, process, ours, time.monotonic())
        threading.Thread(target=self._read, args=(proc,), name=f"capture-link-{index}", daemon=True).start()
        logger.debug("capture process %d started (pid %s)", index, process.pid)
        return proc

    def _read(self, proc: CaptureProc) -> None:
        """Everything that comes up one process's pipe, until it closes."""
        while True:
            try:
                msg = proc.conn.recv()
            except (EOFError, OSError):
                break
            try:
                self._dispatch(proc, msg)
            except Exception:  # a bug here must cost one message, never the link
                logger.exception("capture process %d: cannot handle %s", proc.index, type(msg).__name__)
        if not self._closing:
            self._restart(proc)

    def _dispatch(self, proc: CaptureProc, msg: Any) -> None:
        if isinstance(msg, FrameReady):
            self._frame(proc, msg)
        elif isinstance(msg, TapFrame):
            self._events.tapped(msg.info, msg.jpeg)
        elif isinstance(msg, Counts):
            self._counts(msg)
        elif isinstance(msg, StateChanged):
            stream = proc.streams.get(msg.stream)
            if stream is not None:
                stream.current = msg.state
            self._events.state(msg.stream, msg.state, msg.detail)
        elif isinstance(msg, Beat):
            self._beat(proc, msg)
        elif isinstance(msg, StreamGone):
            self._gone(proc, msg)

    def _counts(self, msg: Counts) -> None:
        for name, n in msg.captured.items():
            for _ in range(n):
                self._events.captured(name)
        for (name, reason), n in msg.dropped.items():
            for _ in range(n):
                self._events.dropped(name, reason)
        for name, n in msg.reconnected.items():
            for _ in range(n):
                self._events.reconnected(name)

    def _beat(self, proc: CaptureProc, msg: Beat) -> None:
        for name, beat in msg.heartbeats.items():
            stream = proc.streams.get(name)
            if stream is not None:
                stream.heartbeat = beat
                stream.alive = msg.alive.get(name, True)

    def _gone(self, proc: CaptureProc, msg: StreamGone) -> None:
        with self._lock:
            stream = proc.streams.pop(msg.stream, None)
            if stream is not None and stream.segment is not None:
                stream.segment.close()
        if stream is not None:
            stream.gone.set()

    def _frame(self, proc: CaptureProc, msg: FrameReady) -> None:
        stream = proc.streams.get(msg.info.stream)
        if stream is None or stream.generation != msg.generation or stream.stop_event.is_set():
            proc.send(ReleaseSlot(msg.info.stream, msg.generation, msg.index))
            return
        if stream.segment is None:
            return
        views = stream.segment.views(msg.index)
        inputs = {name: ModelInput(views[name], t) for name, t in msg.transforms.items()}
        stream.last_frame_mono = msg.info.t_capture_mono
        stream.next_seq = msg.info.seq + 1
        stream.next_epoch = msg.info.epoch + 1  # where a restart resumes: a new epoch
        # Never blocks: the process keeps at most WAIT_DEPTH frames of an offline stream out.
        self._batcher.put(Prepared(msg.info, inputs, SlotRef(msg.generation, msg.index)), stream.stop_event)

    def _restart(self, proc: CaptureProc) -> None:
        """Start a dead process again with its streams; back off if it keeps dying at start."""
        proc.process.join(1.0)
        if proc.process.is_alive():  # its pipe broke but it runs on: it must not capture twice
            proc.process.kill()
            proc.process.join(1.0)
        with self._lock:
            names = sorted(proc.streams)
        logger.error(
            "capture process %d (pid %s) exited with code %s; restarting it with %d stream(s): %s",
            proc.index,
            proc.process.pid,
            proc.process.exitcode,
            len(names),
            ", ".join(names) or "none",
        )
        self._events.capture_restarted()
        lived = time.monotonic() - proc.started
        fails = proc.fails + 1 if lived < STABLE_S else 0
        delay = min(RESTART_MAX_DELAY_S, 0.5 * 2**fails) if fails else 0.0
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self._closing:
            time.sleep(0.05)
        with self._lock:
            if self._closing:
                return
            new = self._spawn(proc.index)
            new.fails = fails
            self._procs[self._procs.index(proc)] = new
            moved = []
            for stream in proc.streams.values():
                if stream.stop_event.is_set():
                    stream.gone.set()  # was being removed: nothing to restart
                    continue
                self._attach(stream, new)
                moved.append(stream)
        proc.conn.close()
        for stream in moved:
            stream.current = StreamState.CONNECTING
            self._events.state(stream.name, StreamState.CONNECTING, "capture process restarted")
            stream.start()

    def close(self, timeout: float = 3.0) -> None:
        """Stop every process (their streams should be stopped already) and unlink every segment."""
        with self._lock:
            self._closing = True
            procs = list(self._procs)
        for proc in procs:
            proc.send(Stop())
        deadline = time.monotonic() + timeout
        for proc in procs:
            proc.process.join(max(0.1, deadline - time.monotonic()))
            if proc.process.is_alive():
                logger.warning("capture process %d did not stop in time; killing it", proc.index)
                proc.process.kill()
                proc.process.join(1.0)
            proc.conn.close()
        with self._lock:
            for proc in procs:
                for stream in proc.streams.values():
                    if stream.segment is not None:
                        stream.segment.close()
                    stream.gone.set()

"""The daemon's handles on capture processes: one per process (its pipe) and one per stream.

A :class:`RemoteStream` gives the pipeline the same face as an in-process
:class:`~streamer.capture.CaptureWorker` (state, heartbeat, start/stop/join), for a stream that
:class:`~streamer.capture_pool.CapturePool` placed in a capture process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from streamer.capture_wire import AddStream, Down, ReleaseSlot, RemoveStream, SetTap
from streamer.config import StreamConfig
from streamer.records import Prepared, StreamState
from streamer.slots import SlotSegment
from streamer.sources import Source


@dataclass(eq=False)
class CaptureProc:
    """One capture process and the daemon's end of its pipe."""

    index: int
    process: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    started: float
    fails: int = 0  # deaths in a row, each soon after its start
    streams: dict[str, RemoteStream] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, msg: Down) -> None:
        # A process that died cannot be sent to; its reader thread restarts it.
        with self.lock, contextlib.suppress(OSError, ValueError):
            self.conn.send(msg)


class RemoteStream:
    """A stream captured in another process: the same face to the pipeline as a CaptureWorker."""

    def __init__(self, cfg: StreamConfig, source: Source, offline: bool, decoder_threads: int) -> None:
        self.cfg = cfg
        self.source = source
        self.offline = offline
        self.decoder_threads = decoder_threads
        self.current = StreamState.CONNECTING
        self.heartbeat = time.monotonic()
        self.last_frame_mono: float | None = None
        self.stop_event = threading.Event()
        self.gone = threading.Event()
        self.alive = True
        self.next_seq = 0
        self.next_epoch = 0
        # Set by the pool (again at each restart of the process).
        self.proc: CaptureProc | None = None
        self.segment: SlotSegment | None = None
        self.generation = 0
        self.tap: SetTap | None = None  # what the live view and clips want of its frames

    @property
    def name(self) -> str:
        return self.cfg.name

    def command(self) -> AddStream:
        if self.segment is None:
            raise RuntimeError(f"stream {self.name}: no slots attached")
        return AddStream(
            self.cfg,
            self.source,
            self.offline,
            self.segment.name,
            self.generation,
            self.decoder_threads,
            start_seq=self.next_seq,
            start_epoch=self.next_epoch,
            tap=self.tap,
        )

    def start(self) -> None:
        if self.proc is not None:
            self.proc.send(self.command())

    def stop(self) -> None:
        if not self.stop_event.is_set():
            self.stop_event.set()
            if self.proc is not None:
                self.proc.send(RemoveStream(self.name))

    def set_tap(self, tap: SetTap | None) -> None:
        """Ask the capture process for JPEGs of this stream's frames (None: stop); sent only on a change."""
        if tap == self.tap:
            return
        self.tap = tap
        if self.proc is not None and not self.stop_event.is_set():
            self.proc.send(tap or SetTap(self.name, None))

    def join(self, timeout: float | None = None) -> None:
        self.gone.wait(timeout)

    def is_alive(self) -> bool:
        return self.alive and not self.gone.is_set()

    def release(self, item: Prepared) -> None:
        """Hand a consumed or dropped frame's slot back to the capture process."""
        slot, proc = item.slot, self.proc
        if slot is not None and proc is not None and slot.generation == self.generation:
            proc.send(ReleaseSlot(self.name, slot.generation, slot.index))

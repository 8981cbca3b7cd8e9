"""A capture process: the capture threads of a share of the streams, outside the daemon's GIL.

Each stream runs the same :class:`~streamer.capture.CaptureWorker` as in the daemon's process; its
frames are preprocessed straight into the stream's shared-memory slots and announced with a
:class:`~streamer.capture_wire.FrameReady`. A slot comes back when the daemon has copied it into a
batch. Live streams keep today's rule (while the previous frame is still waiting, a new one is
dropped as superseded before preprocessing); offline files wait while ``wait_depth`` frames are
out. The process ends when told to stop or when its pipe closes (the daemon is gone).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import Counter
from multiprocessing.connection import Connection

import cv2

from streamer.capture import CaptureWorker, Start
from streamer.capture_wire import (
    AddStream,
    Beat,
    Counts,
    Down,
    FrameReady,
    ReleaseSlot,
    RemoveStream,
    SetTap,
    StateChanged,
    Stop,
    StreamGone,
    TapFrame,
    Up,
    WorkerSetup,
)
from streamer.clip_ring import encode_frame
from streamer.preprocess import Preprocessor
from streamer.records import DropReason, Frame, StreamState
from streamer.slots import SlotSegment

logger = logging.getLogger(__name__)

BEAT_S = 0.2  # heartbeats and batched counters go up this often
JOIN_S = 3.0  # how long a removed stream's thread may take to let go of its source


class _Uplink:
    """The pipe up to the daemon, shared by every thread here; counters are batched."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._captured: Counter[str] = Counter()
        self._dropped: Counter[tuple[str, DropReason]] = Counter()
        self._reconnected: Counter[str] = Counter()
        self.broken = threading.Event()

    def send(self, msg: Up) -> None:
        with self._lock:
            self._send(msg)

    def _send(self, msg: Up) -> None:
        if self.broken.is_set():
            return
        try:
            self._conn.send(msg)
        except (OSError, EOFError, ValueError):  # the daemon is gone
            self.broken.set()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._captured or self._dropped or self._reconnected:
            self._send(Counts(dict(self._captured), dict(self._dropped), dict(self._reconnected)))
            self._captured.clear()
            self._dropped.clear()
            self._reconnected.clear()

    # CaptureEvents, called by the capture threads
    def state(self, stream: str, state: StreamState, detail: str) -> None:
        with self._lock:
            self._flush()  # counts first: a stream that ends has counted all its frames
            self._send(StateChanged(stream, state, detail))

    def captured(self, stream: str) -> None:
        with self._lock:
            self._captured[stream] += 1

    def dropped(self, stream: str, reason: DropReason) -> None:
        with self._lock:
            self._dropped[(stream, reason)] += 1

    def reconnected(self, stream: str) -> None:
        with self._lock:
            self._reconnected[stream] += 1


class _Stream:
    """One stream here: its capture thread, its slots and the frames out in the daemon."""

    def __init__(self, cmd: AddStream, setup: WorkerSetup, uplink: _Uplink) -> None:
        self.name = cmd.cfg.name
        self.generation = cmd.generation
        self._offline = cmd.offline
        self._depth = setup.wait_depth
        self._uplink = uplink
        self._segment = SlotSegment(setup.layout, cmd.segment)
        self._pre = {name: Preprocessor(spec) for name, spec in setup.specs.items()}
        self._cond = threading.Condition()
        self._free = list(range(setup.layout.slots))
        self.tap: SetTap | None = cmd.tap  # set by the command loop, read by the capture thread
        self._tap_due = 0.0
        self.worker = CaptureWorker(
            cmd.cfg,
            cmd.source,
            setup.capture,
            self._emit,
            uplink,
            Start(cmd.decoder_threads, cmd.start_seq, cmd.start_epoch),
        )

    @property
    def _out(self) -> int:
        return self._segment.layout.slots - len(self._free)

    def _acquire(self) -> int | None:
        stop = self.worker.stop_event
        with self._cond:
            if not self._offline:
                # The previous frame still waits for inference: this one could only replace it.
                if self._out > 0 or not self._free:
                    self._uplink.dropped(self.name, DropReason.SUPERSEDED)
                    return None
            else:
                while (self._out >= self._depth or not self._free) and not stop.is_set():
                    self._cond.wait(0.1)
                if stop.is_set():
                    return None
            return self._free.pop()

    def _emit(self, frame: Frame) -> None:
        tap = self.tap
        if tap is not None and tap.every_s is not None and frame.info.t_capture_mono >= self._tap_due:
            self._tap_due = frame.info.t_capture_mono + tap.every_s
            try:
                self._uplink.send(TapFrame(frame.info, encode_frame(frame.image, tap.width, tap.quality)))
            except (ValueError, cv2.error) as exc:  # a malformed frame is not the view's to report
                logger.debug("stream %s: frame %d not tapped: %s", self.name, frame.info.seq, exc)
        index = self._acquire()
        if index is None:
            return
        views = self._segment.views(index)
        transforms = {name: pre(frame.picture, views[name]) for name, pre in self._pre.items()}
        self._uplink.send(FrameReady(frame.info, self.generation, index, transforms))

    def release(self, index: int) -> None:
        with self._cond:
            if index not in self._free:
                self._free.append(index)
                self._cond.notify()

    def stop(self) -> None:
        self.worker.stop()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self._segment.close()


class CaptureProcess:
    """The command loop of one capture process."""

    def __init__(self, conn: Connection, setup: WorkerSetup) -> None:
        self._conn = conn
        self._setup = setup
        self._uplink = _Uplink(conn)
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def serve(self) -> None:
        beat = threading.Thread(target=self._beat, name="capture-beat", daemon=True)
        beat.start()
        try:
            while not self._stop.is_set():
                try:
                    cmd: Down = self._conn.recv()
                except (EOFError, OSError):
                    break  # the daemon is gone
                self._handle(cmd)
        finally:
            self._stop.set()
            with self._lock:
                streams = list(self._streams.values())
            for s in streams:
                s.stop()
            for s in streams:
                s.worker.join(JOIN_S)
                s.close()
            self._uplink.flush()
            beat.join(1.0)

    def _handle(self, cmd: Down) -> None:
        if isinstance(cmd, ReleaseSlot):
            with self._lock:
                stream = self._streams.get(cmd.stream)
            if stream is not None and stream.generation == cmd.generation:
                stream.release(cmd.index)
        elif isinstance(cmd, AddStream):
            self._add(cmd)
        elif isinstance(cmd, RemoveStream):
            with self._lock:
                stream = self._streams.pop(cmd.stream, None)
            if stream is not None:
                # Joining can wait out a hung source's timeouts: not on the command loop.
                threading.Thread(target=self._remove, args=(stream,), name=f"remove-{cmd.stream}", daemon=True).start()
            else:
                self._uplink.send(StreamGone(cmd.stream))
        elif isinstance(cmd, SetTap):
            with self._lock:
                stream = self._streams.get(cmd.stream)
            if stream is not None:
                stream.tap = cmd
        elif isinstance(cmd, Stop):
            self._stop.set()

    def _add(self, cmd: AddStream) -> None:
        try:
            stream = _Stream(cmd, self._setup, self._uplink)
        except Exception as exc:  # a segment that cannot be attached costs this stream, not the process
            logger.error("stream %s: cannot start capture: %s", cmd.cfg.name, exc)
            self._uplink.state(cmd.cfg.name, StreamState.FAILED, "internal error in capture")
            self._uplink.send(StreamGone(cmd.cfg.name))
            return
        with self._lock:
            self._streams[stream.name] = stream
        stream.worker.start()

    def _remove(self, stream: _Stream) -> None:
        stream.stop()
        stream.worker.join(JOIN_S)
        stream.close()
        self._uplink.flush()
        self._uplink.send(StreamGone(stream.name))

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_S):
            with self._lock:
                streams = list(self._streams.values())
            self._uplink.flush()
            self._uplink.send(
                Beat({s.name: s.worker.heartbeat for s in streams}, {s.name: s.worker.is_alive() for s in streams})
            )
            if self._uplink.broken.is_set():
                self._stop.set()
                self._conn.close()


def main(conn: Connection, setup: WorkerSetup) -> None:
    """Entry point of a capture process (started with the ``spawn`` method)."""
    # The daemon handles signals and tells this process when to stop; a terminal's Ctrl-C or
    # systemd's SIGTERM to the whole group must not end capture before the daemon drains.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(
        level=setup.log_level, stream=sys.stderr, format=f"%(levelname)s %(name)s[{setup.index}]: %(message)s"
    )
    # One OpenCV thread per capture thread: the processes together already cover the cores.
    cv2.setNumThreads(1)
    CaptureProcess(conn, setup).serve()

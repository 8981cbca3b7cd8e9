"""Composition of one running configuration: capture -> batcher -> inference -> publisher.

Capture runs in worker processes (:mod:`streamer.capture_pool`) or, with ``[capture] workers = 0``,
in threads of this process. The pipeline implements the observer protocols of capture, inference
and publishing, turning their events into metrics and status messages. Streams can be added and
removed while it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from streamer.batcher import Batcher, Policy
from streamer.capture import CaptureWorker, Start
from streamer.capture_pool import CapturePool
from streamer.capture_remote import RemoteStream
from streamer.config import CaptureConfig, Config, StreamConfig
from streamer.handoff import Handoff
from streamer.inference import InferenceWorker
from streamer.machine import cores
from streamer.metrics import Metrics
from streamer.modelset import ModelSet
from streamer.prepare import FramePreparer
from streamer.publish import Publisher
from streamer.records import DropReason, FrameInfo, StatusEvent, StatusKind, StreamState
from streamer.result_path import ResultPath
from streamer.sources import Source, decoder_threads, plays_offline, resolve

logger = logging.getLogger(__name__)


def capture_processes(cfg: CaptureConfig, n_cores: int) -> int:
    """How many capture processes at most: the configured number, or for "auto" one per core but two.

    Two cores stay for the inference thread and publishing. On two cores or fewer, "auto" keeps
    capture in this process: there is no core for a process to gain.
    """
    if cfg.workers != "auto":
        return cfg.workers
    return 0 if n_cores <= 2 else n_cores - 2


class StreamHandle(Protocol):
    """A stream's capture, in a thread here or in a capture process."""

    current: StreamState
    heartbeat: float
    last_frame_mono: float | None

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...


@dataclass
class _Stream:
    cfg: StreamConfig
    source: Source
    worker: StreamHandle


class Pipeline:
    """Runs the streams of one configuration through one set of models."""

    def __init__(self, config: Config, models: ModelSet, metrics: Metrics, publisher: Publisher) -> None:
        self.config = config
        self.models = models
        self.metrics = metrics
        self.publisher = publisher
        self.batcher = Batcher(on_drop=self.dropped)
        self.results = ResultPath(config, metrics, publisher)
        self.inference = InferenceWorker(
            models, self.batcher, config.pipeline, self.results, self, tracking=config.tracking
        )
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self.processed_total = 0
        self.published_total = 0
        self._specs = {im.model.name: spec for im in models.image if (spec := im.model.spec.input) is not None}
        self._cores = cores()
        procs = capture_processes(config.capture, self._cores)
        self.pool: CapturePool | None = None
        if procs > 0:
            level = logging.getLogger("streamer").getEffectiveLevel()
            self.pool = CapturePool(config.capture, self._specs, self.batcher, self, max_procs=procs, log_level=level)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        enabled = [s for s in self.config.streams if s.enabled]
        for stream in enabled:
            resolve(stream, self.config)  # a bad source fails start-up before any stream runs
        self.inference.start()
        for stream in enabled:
            self.add_stream(stream)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop capture first, let inference finish its batch, then stop it; clips end with what they have."""
        with self._lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for s in streams:
            s.worker.stop()
        deadline = time.monotonic() + timeout
        for s in streams:
            s.worker.join(max(0.0, deadline - time.monotonic()))
        self.inference.stop()
        self.batcher.close()
        if self.pool is not None:
            self.pool.close(max(0.5, deadline - time.monotonic()))
        if self.inference.ident is not None:  # start() may have failed before starting it
            self.inference.join(max(0.1, deadline - time.monotonic()))
        self.results.stop(timeout=max(1.0, deadline - time.monotonic()))

    def add_stream(self, cfg: StreamConfig) -> None:
        """Start capturing a stream; raise ConfigError if its source cannot be resolved."""
        source = resolve(cfg, self.config)
        offline = plays_offline(source, cfg)
        with self._lock:
            # Every configured stream counts from the first: the first of 24 got all the cores'
            # decoder threads and 24 % more frames than the others under overload.
            streams = max(len(self._streams) + 1, len(self.config.streams))
            threads = decoder_threads(self.config.capture, streams, self._cores)
        self.metrics.add_stream(cfg.name)
        self.results.add_stream(cfg)
        worker: StreamHandle
        if self.pool is not None:
            worker = self.pool.add(cfg, source, offline, threads)
            worker.tap = self.results.tap_for(cfg.name)  # a clip rule wants every frame, from the first
        else:
            worker = self._capture_thread(cfg, source, offline, threads)
        with self._lock:
            self._streams[cfg.name] = _Stream(cfg, source, worker)
        logger.info(
            "stream %s: %s (%s, %s, capture in %s)",
            cfg.name,
            source.display,
            source.kind.value,
            "offline" if offline else "live",
            "a capture process" if self.pool is not None else "this process",
        )
        self.publisher.status(StatusEvent(StatusKind.STREAM_ADDED, cfg.name, None, source.display))
        worker.start()

    def _capture_thread(self, cfg: StreamConfig, source: Source, offline: bool, threads: int) -> CaptureWorker:
        """A capture thread in this process, preprocessing into its own buffer pool."""
        preparer = FramePreparer(self._specs)
        self.batcher.register(cfg.name, Policy.WAIT if offline else Policy.LATEST, preparer.release)
        handoff = Handoff(cfg.name, self.batcher, preparer, self.dropped, self.results.taps)
        worker = CaptureWorker(cfg, source, self.config.capture, handoff, self, Start(decoder_threads=threads))
        handoff.stop_event = worker.stop_event
        return worker

    def remove_stream(self, name: str, timeout: float = 3.0) -> None:
        with self._lock:
            stream = self._streams.pop(name, None)
        if stream is None:
            return
        stream.worker.stop()
        self.batcher.unregister(name)
        stream.worker.join(timeout)
        self.inference.forget_stream(name)
        self.results.remove_stream(name)
        self.metrics.remove_stream(name)
        self.publisher.status(StatusEvent(StatusKind.STREAM_REMOVED, name))

    def stream_configs(self) -> dict[str, StreamConfig]:
        with self._lock:
            return {n: s.cfg for n, s in self._streams.items()}

    # -- observers ---------------------------------------------------------------------------
    def state(self, stream: str, state: StreamState, detail: str) -> None:
        with self._lock:
            known = stream in self._streams
        if not known:
            return
        self.metrics.set_state(stream, state)
        self.results.state(stream, state)
        if state is StreamState.BACKOFF:
            self.metrics.backoffs.labels(stream).inc()
        log = logger.warning if state in (StreamState.FAILED, StreamState.BACKOFF) else logger.info
        log("stream %s: %s%s", stream, state.value, f" ({detail})" if detail else "")
        self.publisher.status(StatusEvent(StatusKind.STREAM_STATE, stream, state.value, detail))

    def captured(self, stream: str) -> None:
        self.metrics.frames_captured.labels(stream).inc()

    def dropped(self, stream: str, reason: DropReason) -> None:
        self.metrics.frames_dropped.labels(stream, reason).inc()

    def reconnected(self, stream: str) -> None:
        self.metrics.reconnects.labels(stream).inc()

    def capture_restarted(self) -> None:
        self.metrics.capture_restarts.inc()

    def inferred(self, model: str, seconds: float, batch: int) -> None:
        self.metrics.inference_seconds.labels(model).observe(seconds)
        self.metrics.batch_size.labels(model).observe(batch)

    def tracked(self, stream: str, alive: int, started: int, ended: int) -> None:
        self.metrics.tracks_alive.labels(stream).set(alive)
        if started:
            self.metrics.tracks_started.labels(stream).inc(started)
        if ended:
            self.metrics.tracks_ended.labels(stream).inc(ended)

    def object_steps(self, stream: str, steps: int) -> None:
        self.metrics.object_sequence_steps.labels(stream).inc(steps)

    def processed(self, stream: str) -> None:
        self.processed_total += 1
        self.metrics.frames_processed.labels(stream).inc()

    def published(self, stream: str, latency_s: float) -> None:
        self.published_total += 1
        self.metrics.published.labels(stream).inc()
        self.metrics.latency.labels(stream).observe(latency_s)

    def tick(self) -> None:
        """From the supervisor's loop, about once a second: clips of streams that went quiet end, and
        capture processes are told which frames the live view and the clips want now."""
        self.results.tick()
        if self.pool is not None and self.results.taps:
            with self._lock:
                workers = [s.worker for s in self._streams.values() if isinstance(s.worker, RemoteStream)]
            self.results.request_taps(workers)

    def tapped(self, info: FrameInfo, jpeg: bytes) -> None:
        """A frame a capture process encoded for the live view or a clip ring."""
        self.results.tapped(info, jpeg)

    # -- health ------------------------------------------------------------------------------
    def health(self, max_age_s: float, stall_s: float) -> tuple[bool, dict[str, Any]]:
        """Healthy = inference beating and every running stream produced a frame recently."""
        now = time.monotonic()
        inference_ok = self.inference.is_alive() and now - self.inference.heartbeat < stall_s
        streams: dict[str, Any] = {}
        ok = inference_ok
        with self._lock:
            items = list(self._streams.items())
        for name, s in items:
            w = s.worker
            age = None if w.last_frame_mono is None else round(now - w.last_frame_mono, 3)
            ended = w.current is StreamState.STOPPED
            fresh = ended or (age is not None and age < max_age_s)
            ok = ok and fresh
            streams[name] = {"state": w.current.value, "last_frame_age_s": age, "ok": fresh}
        return ok, {"inference_alive": inference_ok, "streams": streams}

    def heartbeats_fresh(self, stall_s: float) -> bool:
        """Every stage's loop is turning (a dead camera still turns its loop; a hung one does not)."""
        now = time.monotonic()
        if not self.inference.is_alive() or now - self.inference.heartbeat > stall_s:
            return False
        if now - self.publisher.heartbeat > stall_s:
            return False
        with self._lock:
            workers = [s.worker for s in self._streams.values()]
        return all(not w.is_alive() or now - w.heartbeat < stall_s for w in workers)

    def streams_up(self) -> tuple[int, int]:
        with self._lock:
            workers = [s.worker for s in self._streams.values()]
        return sum(1 for w in workers if w.current is StreamState.UP), len(workers)

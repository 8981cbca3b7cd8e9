"""Prometheus metrics, each defined once against an injectable registry, and their HTTP routes.

``serve_metrics`` adds ``/metrics`` (Prometheus text format) and ``/healthz`` (200 when healthy,
503 otherwise, with a JSON body saying why) to the daemon's HTTP server (:mod:`streamer.http`).
This is the only module that imports prometheus_client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from streamer.clip_events import ClipError
from streamer.http import ClientError, HttpServer, Query, Reply
from streamer.peers import PeerError
from streamer.records import DropReason, StreamState
from streamer.zone_metrics import ZoneMetrics

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INFERENCE_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256)
DROP_REASONS = tuple(DropReason)


class Metrics:
    """Every metric of the daemon. Tests pass a fresh ``CollectorRegistry``."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.frames_captured = Counter(
            "streamer_frames_captured", "Frames decoded from the source.", ["stream"], registry=r
        )
        self.frames_processed = Counter(
            "streamer_frames_processed", "Frames that went through inference.", ["stream"], registry=r
        )
        self.frames_dropped = Counter(
            "streamer_frames_dropped",
            "Frames dropped, by reason: superseded (a newer frame won), max_fps, publish (backlog), error, "
            "corrupt (undecodable, or missing from a truncated file).",
            ["stream", "reason"],
            registry=r,
        )
        self.stream_up = Gauge("streamer_stream_up", "1 while the stream delivers frames.", ["stream"], registry=r)
        self.stream_state = Gauge(
            "streamer_stream_state", "1 for the stream's current capture state.", ["stream", "state"], registry=r
        )
        self.reconnects = Counter(
            "streamer_stream_reconnects", "Successful reopenings of a lost live stream.", ["stream"], registry=r
        )
        self.backoffs = Counter(
            "streamer_stream_backoffs",
            "Times a live stream's capture backed off: its source could not be opened or was lost.",
            ["stream"],
            registry=r,
        )
        self.inference_seconds = Histogram(
            "streamer_inference_seconds",
            "Wall time of one batched model run.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "streamer_batch_size", "Frames per batched model run.", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.latency = Histogram(
            "streamer_latency_seconds",
            "Capture to publish time of a result.",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.published = Counter(
            "streamer_messages_published", "Result messages sent on the PUB socket.", ["stream"], registry=r
        )
        self.tracks_alive = Gauge(
            "streamer_tracks_alive", "Confirmed object tracks (tracked or lost) of the stream.", ["stream"], registry=r
        )
        self.tracks_started = Counter(
            "streamer_tracks_started", "Object tracks confirmed (given an id).", ["stream"], registry=r
        )
        self.tracks_ended = Counter(
            "streamer_tracks_ended",
            "Object tracks ended (lost too long, or the stream reconnected).",
            ["stream"],
            registry=r,
        )
        self.object_sequence_steps = Counter(
            "streamer_object_sequence_steps",
            "Steps of the per-object sequence model, one per tracked object and frame.",
            ["stream"],
            registry=r,
        )
        self.capture_restarts = Counter(
            "streamer_capture_process_restarts", "Capture processes that died and were started again.", registry=r
        )
        self.reloads = Counter(
            "streamer_config_reloads", "Configuration reloads (SIGHUP), by result.", ["result"], registry=r
        )
        for result in ("ok", "error"):
            self.reloads.labels(result)  # both series exist from the start, so rate() and alerts work
        self.zones = ZoneMetrics(r)
        self.clips = Counter("streamer_clips", "Event clips written.", registry=r)
        self.clip_errors = Counter(
            "streamer_clip_errors", "Event clips lost or cut short, by reason.", ["reason"], registry=r
        )
        for reason in ClipError:
            self.clip_errors.labels(reason.value)
        self.http_connections_open = Gauge(
            "streamer_http_connections", "Open connections to the HTTP port (metrics, health, live view).", registry=r
        )
        self.http_client_errors = Counter(
            "streamer_http_client_errors",
            "HTTP clients the server gave up on, by reason: timeout, malformed, oversized, disconnected, "
            "evicted (idle, closed to make room), refused (at the connection bound or out of fds).",
            ["reason"],
            registry=r,
        )
        for client_reason in ClientError:
            self.http_client_errors.labels(client_reason.value)
        self.publish_connections_open = Gauge(
            "streamer_publish_connections",
            "Open connections to the PUB socket (subscribers, and peers still in their handshake).",
            registry=r,
        )
        self.publish_peer_errors = Counter(
            "streamer_publish_peer_errors",
            "Peers of the PUB socket refused at the handshake, by reason: handshake (not ZMTP, bad greeting "
            "or mechanism), auth (CURVE key not authorised).",
            ["reason"],
            registry=r,
        )
        for peer_reason in PeerError:
            self.publish_peer_errors.labels(peer_reason.value)
        self.build = Info("streamer_build", "Version of the daemon, ONNX Runtime and providers in use.", registry=r)

    def add_stream(self, stream: str) -> None:
        """Create a stream's series at zero so dashboards see it before its first event."""
        self.frames_captured.labels(stream)
        self.frames_processed.labels(stream)
        self.published.labels(stream)
        self.reconnects.labels(stream)
        self.tracks_alive.labels(stream)
        self.tracks_started.labels(stream)
        self.tracks_ended.labels(stream)
        self.object_sequence_steps.labels(stream)
        self.backoffs.labels(stream)
        for reason in DROP_REASONS:
            self.frames_dropped.labels(stream, reason)
        self.set_state(stream, StreamState.CONNECTING)

    def remove_stream(self, stream: str) -> None:
        """Forget a removed stream's series."""
        series: list[tuple[Any, tuple[str, ...]]] = [
            (m, (stream,))
            for m in (
                self.frames_captured,
                self.frames_processed,
                self.published,
                self.reconnects,
                self.stream_up,
                self.latency,
                self.tracks_alive,
                self.tracks_started,
                self.tracks_ended,
                self.object_sequence_steps,
                self.backoffs,
            )
        ]
        series += [(self.frames_dropped, (stream, reason)) for reason in DROP_REASONS]
        series += [(self.stream_state, (stream, state.value)) for state in StreamState]
        for metric, labels in series:
            with contextlib.suppress(KeyError):  # a series never touched does not exist
                metric.remove(*labels)
        self.zones.remove_stream(stream)

    def http_connections(self, open_now: int) -> None:
        self.http_connections_open.set(open_now)

    def http_client_error(self, reason: ClientError) -> None:
        self.http_client_errors.labels(reason.value).inc()

    def publish_connections(self, open_now: int) -> None:
        self.publish_connections_open.set(open_now)

    def peer_error(self, reason: PeerError) -> None:
        self.publish_peer_errors.labels(reason.value).inc()

    def set_state(self, stream: str, state: StreamState) -> None:
        for s in StreamState:
            self.stream_state.labels(stream, s.value).set(1 if s is state else 0)
        self.stream_up.labels(stream).set(1 if state is StreamState.UP else 0)


Health = Callable[[], tuple[bool, dict[str, Any]]]

# Under a flood of /metrics requests, renderings are shared: in each 0.25 s window the first two
# requests get a fresh one and the rest the latest (at most 0.25 s old). An ordinary scraper, or a
# script that reads, acts and reads again, always sees a fresh one. Measured with 5,000 clients
# asking for /metrics as fast as one process can, each resetting right after its request: the
# other streams kept 92-94 % of their rate when every request was rendered (as many /healthz
# requests: 96-100 %), 98-101 % with renderings shared.
RENDER_WINDOW_S = 0.25
FRESH_PER_WINDOW = 2


class Rendering:
    """The text of ``/metrics``: rendered by one caller at a time; past ``fresh`` requests in a
    window of ``window_s``, the latest rendering is shared instead of a new one made."""

    def __init__(
        self, render: Callable[[], bytes], window_s: float = RENDER_WINDOW_S, fresh: int = FRESH_PER_WINDOW
    ) -> None:
        self._render = render
        self.window_s = window_s
        self.fresh = fresh
        self._lock = threading.Lock()
        self._text = b""
        self._window = -float("inf")  # when the current window began
        self._fresh_in_window = 0
        self.renders = 0

    def __call__(self) -> bytes:
        with self._lock:  # callers that arrive during a rendering wait for it
            now = time.monotonic()
            if now - self._window >= self.window_s:
                self._window, self._fresh_in_window = now, 0
            if self._fresh_in_window < self.fresh:
                self._text = self._render()
                self._fresh_in_window += 1
                self.renders += 1
            return self._text


def serve_metrics(server: HttpServer, registry: CollectorRegistry, health: Health) -> None:
    """Register ``/metrics`` (Prometheus text format) and ``/healthz`` (200 or 503, JSON saying why)."""

    text = Rendering(lambda: generate_latest(registry))

    def metrics(_query: Query) -> Reply:
        return Reply(200, CONTENT_TYPE_LATEST, text())

    def healthz(_query: Query) -> Reply:
        ok, detail = health()
        body = json.dumps({"healthy": ok, **detail}, sort_keys=True).encode()
        return Reply(200 if ok else 503, "application/json", body)

    server.add_route("/metrics", metrics)
    server.add_route("/healthz", healthz)

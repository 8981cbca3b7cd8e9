"""Prometheus metrics, each defined once against an injectable registry, and the HTTP endpoint.

The server answers ``/metrics`` (Prometheus text format) and ``/healthz`` (200 when healthy,
503 otherwise, with a JSON body saying why). It is the only module that imports
prometheus_client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

from streamer.errors import ConfigError
from streamer.records import StreamState

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INFERENCE_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256)
DROP_REASONS = ("superseded", "max_fps", "publish", "error", "corrupt")


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
            "streamer_inference_seconds", "Wall time of one batched model run.", ["model"],
            buckets=INFERENCE_BUCKETS, registry=r,
        )
        self.batch_size = Histogram(
            "streamer_batch_size", "Frames per batched model run.", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.latency = Histogram(
            "streamer_latency_seconds", "Capture to publish time of a result.", ["stream"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.published = Counter(
            "streamer_messages_published", "Result messages sent on the PUB socket.", ["stream"], registry=r
        )
        self.capture_restarts = Counter(
            "streamer_capture_process_restarts", "Capture processes that died and were started again.", registry=r
        )
        self.reloads = Counter(
            "streamer_config_reloads", "Configuration reloads (SIGHUP), by result.", ["result"], registry=r
        )
        for result in ("ok", "error"):
            self.reloads.labels(result)  # both series exist from the start, so rate() and alerts work
        self.build = Info("streamer_build", "Version of the daemon, ONNX Runtime and providers in use.", registry=r)

    def add_stream(self, stream: str) -> None:
        """Create a stream's series at zero so dashboards see it before its first event."""
        self.frames_captured.labels(stream)
        self.frames_processed.labels(stream)
        self.published.labels(stream)
        self.reconnects.labels(stream)
        self.backoffs.labels(stream)
        for reason in DROP_REASONS:
            self.frames_dropped.labels(stream, reason)
        self.set_state(stream, StreamState.CONNECTING)

    def remove_stream(self, stream: str) -> None:
        """Forget a removed stream's series."""
        series: list[tuple[Any, tuple[str, ...]]] = [
            (m, (stream,))
            for m in (self.frames_captured, self.frames_processed, self.published, self.reconnects,
                      self.backoffs, self.stream_up, self.latency)
        ]
        series += [(self.frames_dropped, (stream, reason)) for reason in DROP_REASONS]
        series += [(self.stream_state, (stream, state.value)) for state in StreamState]
        for metric, labels in series:
            with contextlib.suppress(KeyError):  # a series never touched does not exist
                metric.remove(*labels)

    def set_state(self, stream: str, state: StreamState) -> None:
        for s in StreamState:
            self.stream_state.labels(stream, s.value).set(1 if s is state else 0)
        self.stream_up.labels(stream).set(1 if state is StreamState.UP else 0)


Health = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass
class MetricsServer:
    """``/metrics`` and ``/healthz`` over HTTP, in a daemon thread."""

    registry: CollectorRegistry
    health: Health
    host: str
    port: int
    _server: ThreadingHTTPServer | None = field(default=None, init=False)

    def start(self) -> None:
        registry, health = self.registry, self.health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/healthz":
                    ok, detail = health()
                    body = json.dumps({"healthy": ok, **detail}, sort_keys=True).encode()
                    self._reply(200 if ok else 503, "application/json", body)
                else:
                    self._reply(404, "text/plain", b"not found; try /metrics or /healthz\n")

            def _reply(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("http: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            raise ConfigError(f"metrics.listen: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True).start()
        logger.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

"""The supervisor (main thread): start-up, signals, reload, systemd notifications, shutdown.

Signal handlers only enqueue the signal; the loop dispatches to ``handle_<signame>``. Between
signals the loop ticks: READY once results flow, WATCHDOG only while every stage beats, STATUS.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

from streamer import __version__, systemd
from streamer.config import Config, load_config
from streamer.credentials import read_secret, redact
from streamer.errors import ConfigError
from streamer.http import HttpServer, Limits, raise_fd_limit
from streamer.live_view import LiveView
from streamer.memory import settle_heap
from streamer.metrics import Metrics, serve_metrics
from streamer.modelset import ModelSet, load_models
from streamer.pipeline import Pipeline
from streamer.preview import PreviewHub
from streamer.publish import Publisher
from streamer.records import DropReason, StatusEvent, StatusKind
from streamer.runtime import version as ort_version
from streamer.signals import SignalQueue
from streamer.sources import configure_ffmpeg, resolve

logger = logging.getLogger(__name__)

# Sections every stream depends on: a reload that changes one restarts the pipeline.
FRAME_PATH = ("models", "pipeline", "capture", "tracking", "events", "preview")

# READY goes out when the first result is published, or after this long if none comes (every
# camera down at boot must not make systemd kill and restart us in a loop).
READY_GRACE_S = 10.0
STATUS_EVERY_S = 5.0
# A reload's heap settling (a full collection, memory.settle_heap) waits this long after the last
# changed reload, so a storm of them costs one pass, not one each.
SETTLE_AFTER_RELOAD_S = 2.0
# Descriptors beyond the HTTP connections: cameras, capture processes, ZeroMQ, models, logs.
FD_RESERVE = 1024


class Daemon:
    """One daemon process: owns the metrics server, the publisher and the running pipeline."""

    def __init__(self, config_path: Path, config: Config, signals: SignalQueue | None = None) -> None:
        self.config_path = config_path
        self.config = config
        self.metrics = Metrics()
        self._signals = signals if signals is not None else SignalQueue()
        self._running = True
        self.pipeline: Pipeline | None = None
        self.publisher: Publisher | None = None
        self.server: HttpServer | None = None
        self._settle_at: float | None = None

    # -- start-up ----------------------------------------------------------------------------
    def start(self) -> None:
        """Load models, bind sockets, start streams. Raises ConfigError for anything misconfigured;
        the caller then calls :meth:`shutdown`, which closes whatever was opened. A SIGTERM during
        start-up ends it between phases (models can take long to load): :meth:`loop` then exits."""
        configure_ffmpeg()
        # Bind first: subscribers that were waiting connect while the models load, and so do
        # not miss the first results.
        self.publisher = Publisher(
            self.config.publish, Path(self.config.base_dir), _PublishRouter(self), peers=self.metrics
        )
        self.publisher.start()
        if self._signals.stop_requested.is_set():
            return
        models = load_models(self.config)
        if self._signals.stop_requested.is_set():
            return
        providers = sorted({m.provider for m in models.all()})
        self.metrics.build.info(
            {"version": __version__, "onnxruntime": ort_version(), "providers": ",".join(providers)}
        )
        if self.config.metrics.enabled:
            self.server = self._http_server()
            self.server.start()
        self.pipeline = self._new_pipeline(self.config, models)
        self.pipeline.start()
        self.publisher.status(StatusEvent(StatusKind.DAEMON_START, detail=f"streamer {__version__}"))
        settle_heap()
        logger.info("streamer %s running: %d stream(s), models on %s", __version__, len(self.config.streams), providers)

    def _http_server(self) -> HttpServer:
        m = self.config.metrics
        # Each connection is a descriptor: room for all of them beside cameras, sockets and libraries.
        fds = raise_fd_limit(m.max_connections + FD_RESERVE)
        if fds < m.max_connections + FD_RESERVE:
            logger.warning("open-files limit %d is low for metrics.max_connections %d", fds, m.max_connections)
        host, _, port = m.listen.rpartition(":")
        limits = Limits(m.max_connections, m.header_timeout_s, m.idle_timeout_s)
        server = HttpServer(host.strip("[]"), int(port), self.metrics, limits)
        serve_metrics(server, self.metrics.registry, self._health)
        preview = self.config.preview
        token = None
        if preview.token_file or preview.token_credential:
            token = read_secret(
                "preview.token",
                file=preview.token_file,
                credential=preview.token_credential,
                base=Path(self.config.base_dir),
            )
        LiveView(self._preview_hub, preview.max_viewers, token).register(server)
        return server

    def _preview_hub(self) -> PreviewHub | None:
        return self.pipeline.results.preview if self.pipeline is not None else None

    def _new_pipeline(self, config: Config, models: ModelSet) -> Pipeline:
        if self.publisher is None:
            raise RuntimeError("publisher not started")
        return Pipeline(config, models, self.metrics, self.publisher)

    def _health(self) -> tuple[bool, dict[str, object]]:
        p = self.pipeline
        if p is None:
            return False, {"reason": "starting"}
        return p.health(self.config.metrics.health_max_age_s, self.config.pipeline.stall_after_s)

    # -- main loop ---------------------------------------------------------------------------
    def loop(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        started = time.monotonic()
        ready = False
        wd = systemd.watchdog_interval()
        tick = min(1.0, wd / 2) if wd else 1.0
        last_status = 0.0
        last_processed = 0
        while self._running:
            signum = self._signals.get(timeout=tick)
            if signum is not None:
                handler = getattr(self, f"handle_{signal.Signals(signum).name.lower()}", None)
                if handler is not None:
                    handler()
                continue
            p = self.pipeline
            if p is None:
                continue
            now = time.monotonic()
            p.tick()
            if self._settle_at is not None and now >= self._settle_at:
                self._settle_at = None
                settle_heap()
            if not ready and (p.published_total > 0 or now - started > READY_GRACE_S or not p.stream_configs()):
                systemd.ready(self._status_line(p, 0.0))
                ready = True
            if wd and p.heartbeats_fresh(self.config.pipeline.stall_after_s):
                systemd.watchdog()
            if now - last_status >= STATUS_EVERY_S:
                fps = (p.processed_total - last_processed) / (now - last_status) if last_status else 0.0
                last_status, last_processed = now, p.processed_total
                systemd.status(self._status_line(p, fps))
        return 0

    @staticmethod
    def _status_line(p: Pipeline, fps: float) -> str:
        up, total = p.streams_up()
        return f"streams up {up}/{total}, {fps:.1f} frames/s"

    def handle_sigterm(self) -> None:
        logger.info("SIGTERM: stopping")
        self._running = False

    def handle_sigint(self) -> None:
        logger.info("SIGINT: stopping")
        self._running = False

    def handle_sighup(self) -> None:
        logger.info("SIGHUP: reloading %s", self.config_path)
        self.reload()

    # -- reload ------------------------------------------------------------------------------
    def reload(self) -> None:
        """Apply a changed config; on any error keep serving the running one and report it."""
        try:
            new = load_config(self.config_path)
            changed = new != self.config
            self._apply(new)
        except ConfigError as exc:
            self._reload_failed(str(exc))
            return
        except Exception as exc:  # a reload must never take the running daemon down with it
            logger.exception("reload: unexpected error")
            self._reload_failed(f"internal error: {type(exc).__name__}: {redact(str(exc))}")
            return
        if changed:  # settle what the new configuration built, once a storm of reloads is over
            self._settle_at = time.monotonic() + SETTLE_AFTER_RELOAD_S
        self.metrics.reloads.labels("ok").inc()
        if self.publisher is not None:
            self.publisher.status(StatusEvent(StatusKind.CONFIG_RELOADED, detail=str(self.config_path)))

    def _reload_failed(self, why: str) -> None:
        logger.error("reload failed, keeping the running configuration: %s", why)
        self.metrics.reloads.labels("error").inc()
        if self.publisher is not None:
            self.publisher.status(StatusEvent(StatusKind.CONFIG_ERROR, detail=why))

    def _apply(self, new: Config) -> None:
        old = self.config
        p = self.pipeline
        if p is None:
            raise ConfigError("reload before start-up finished")
        for section in ("publish", "metrics"):
            if getattr(new, section) != getattr(old, section):
                logger.warning("reload: [%s] changed; it takes effect at the next restart", section)
        if any(getattr(new, section) != getattr(old, section) for section in FRAME_PATH):
            self._restart_pipeline(p, new)
        else:
            self._apply_streams(p, new)
        self.config = new

    def _restart_pipeline(self, p: Pipeline, new: Config) -> None:
        """A new pipeline for settings every stream depends on (models, batching, capture, ...)."""
        # Load the new models and check every source before touching the running pipeline:
        # a bad model or source changes nothing.
        for stream in new.streams:
            if stream.enabled:
                resolve(stream, new)
        models = load_models(new)
        logger.info("reload: [%s] changed; restarting every stream", "], [".join(
            section for section in FRAME_PATH if getattr(new, section) != getattr(self.config, section)
        ))  # fmt: skip
        fresh = self._new_pipeline(new, models)
        running = p.stream_configs()
        p.stop()
        # The old pipeline stopped without removing anything: forget the series of the streams
        # the new config drops, or they stay behind (a removed dead camera would stay down).
        for name in set(running) - {s.name for s in new.streams if s.enabled}:
            self.metrics.remove_stream(name)
            if self.publisher is not None:
                self.publisher.status(StatusEvent(StatusKind.STREAM_REMOVED, name))
        self.pipeline = fresh
        fresh.start()

    @staticmethod
    def _apply_streams(p: Pipeline, new: Config) -> None:
        """Only the streams changed: remove, add or restart those, the others never notice."""
        running = p.stream_configs()
        wanted = {s.name: s for s in new.streams if s.enabled}
        for name, cfg in wanted.items():
            if running.get(name) != cfg:
                resolve(cfg, new)  # a bad source fails the whole reload before anything changes
        p.config = new
        for name, cfg in running.items():
            if wanted.get(name) != cfg:
                p.remove_stream(name)
        for name, cfg in wanted.items():
            if running.get(name) != cfg:
                p.add_stream(cfg)

    # -- shutdown ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop capture, drain in-flight batches, publish the final status, close sockets."""
        systemd.stopping()
        if self.pipeline is not None:
            self.pipeline.stop(timeout=1.5)
        if self.publisher is not None:
            self.publisher.status(StatusEvent(StatusKind.DAEMON_STOP, detail="stopped"))
            self.publisher.close(timeout=1.0)
        if self.server is not None:
            self.server.stop()
        logger.info("stopped")


class _PublishRouter:
    """Routes publisher events to whichever pipeline is current (it changes on reload)."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def published(self, stream: str, latency_s: float) -> None:
        if self._daemon.pipeline is not None:
            self._daemon.pipeline.published(stream, latency_s)

    def dropped(self, stream: str, reason: DropReason) -> None:
        if self._daemon.pipeline is not None:
            self._daemon.pipeline.dropped(stream, reason)


def run(config_path: Path, signals: SignalQueue | None = None) -> int:
    """``streamer run``: returns the process exit code; ConfigError propagates (exit 2).

    ``signals`` is the queue the CLI installed before importing this module (and its slow imports).
    """
    if signals is None:
        signals = SignalQueue().install()
    config = load_config(config_path)
    daemon = Daemon(config_path, config, signals)
    try:
        daemon.start()
    except ConfigError:
        daemon.shutdown()
        raise
    try:
        return daemon.loop()
    finally:
        daemon.shutdown()

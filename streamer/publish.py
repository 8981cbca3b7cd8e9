"""ZeroMQ publishing: one thread owns the PUB socket; everyone else hands it records.

Messages are multipart ``[topic, payload]``: the stream name and a JSON result, or the reserved
``_status`` topic and a status event. The hand-over queue is bounded and never blocks the
inference thread: a full queue costs a counted drop. The socket's send HWM bounds what libzmq
holds for a slow subscriber; past it libzmq drops for that subscriber alone, which the subscriber
sees as a gap in ``seq``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Protocol

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from streamer.codec import encode_event, encode_result, encode_status
from streamer.config import EVENTS_TOPIC, STATUS_TOPIC, PublishConfig
from streamer.errors import ConfigError
from streamer.peers import EVENTS, PeerEvents, PeerMonitor
from streamer.records import DropReason, EventMessage, Result, StatusEvent

logger = logging.getLogger(__name__)

_STOP = object()

# What a subscriber sends a PUB socket is subscriptions: a flag byte and a topic (a stream name).
# libzmq would otherwise buffer any frame a peer declares, up to gigabytes, until it disconnects;
# a larger frame now closes that peer's connection at its header. CURVE handshake commands are
# a few hundred bytes, well under it.
MAX_INBOUND_BYTES = 4096


class PublishEvents(Protocol):
    """What the publisher reports; implemented by the pipeline (metrics)."""

    def published(self, stream: str, latency_s: float) -> None: ...
    def dropped(self, stream: str, reason: DropReason) -> None: ...


class Publisher:
    """Owns the PUB socket in its own thread."""

    def __init__(
        self, cfg: PublishConfig, base_dir: Path, events: PublishEvents, peers: PeerEvents | None = None
    ) -> None:
        self.cfg = cfg
        self._base = base_dir
        self._events = events
        self._peers = peers
        self._queue: queue.Queue[object] = queue.Queue(maxsize=cfg.queue_size)
        self._thread = threading.Thread(target=self._run, name="publish", daemon=True)
        self._bound = threading.Event()
        self._bind_error: str | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._auth: ThreadAuthenticator | None = None
        self.heartbeat = time.monotonic()
        self.endpoint = cfg.endpoint

    def start(self) -> None:
        """Bind in the owning thread; raise ConfigError (e.g. endpoint in use) before returning."""
        self._thread.start()
        self._bound.wait(10)
        if self._bind_error is not None:
            self._thread.join(2)
            raise ConfigError(self._bind_error)

    def _path(self, p: str) -> Path:
        # Like every other path in the config: ``~`` and ``$VARS`` expand, so a key can live in
        # ``${CREDENTIALS_DIRECTORY}`` (systemd LoadCredential=); relative means next to the config.
        path = Path(os.path.expandvars(os.path.expanduser(p)))
        return path if path.is_absolute() else self._base / path

    def _socket(self) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self._ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, self.cfg.send_hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND_BYTES)
        sock.setsockopt(zmq.LINGER, 500)
        curve = self.cfg.curve
        if curve is not None:
            if not zmq.has("curve"):
                raise ConfigError("publish.curve: this libzmq has no CURVE support")
            try:
                public, secret = zmq.auth.load_certificate(self._path(curve.secret_key_file))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"publish.curve.secret_key_file: {exc}") from None
            if secret is None:
                raise ConfigError("publish.curve.secret_key_file: the file holds no secret key")
            keys_dir = self._path(curve.authorized_keys_dir)
            if not keys_dir.is_dir():
                raise ConfigError(f"publish.curve.authorized_keys_dir: not a directory: {keys_dir}")
            self._auth = ThreadAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(keys_dir))
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_server = True
        sock.bind(self.cfg.endpoint)
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        return sock

    def _run(self) -> None:
        try:
            sock = self._socket()
        except zmq.ZMQError as exc:
            self._bind_error = f"publish.endpoint: cannot bind {self.cfg.endpoint}: {exc}"
            self._bound.set()
            return
        except ConfigError as exc:
            self._bind_error = str(exc)
            self._bound.set()
            return
        monitor = None
        if self._peers is not None:
            monitor = PeerMonitor(sock.get_monitor_socket(EVENTS), self._peers)
            monitor.start()
        self._bound.set()
        logger.info("publishing on %s", self.endpoint)
        try:
            self._loop(sock)
        finally:
            if monitor is not None:
                sock.disable_monitor()
                monitor.join(1.0)
            sock.close(linger=500)
            if self._auth is not None:
                self._auth.stop()

    def _loop(self, sock: zmq.Socket[bytes]) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                self.heartbeat = time.monotonic()
                continue
            self.heartbeat = time.monotonic()
            if item is _STOP:
                return
            if isinstance(item, Result):
                self._send_result(sock, item)
            elif isinstance(item, StatusEvent):
                self._send(sock, STATUS_TOPIC, encode_status(item), None)
            elif isinstance(item, EventMessage):
                self._send(sock, EVENTS_TOPIC, encode_event(item), None)

    def _send_result(self, sock: zmq.Socket[bytes], result: Result) -> None:
        latency = time.monotonic() - result.info.t_capture_mono
        if self._send(sock, result.info.stream, encode_result(result, latency), result.info.stream):
            self._events.published(result.info.stream, latency)

    def _send(self, sock: zmq.Socket[bytes], topic: str, payload: bytes, stream: str | None) -> bool:
        try:
            sock.send_multipart([topic.encode(), payload], flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:
            logger.debug("publish to %s failed: %s", topic, exc)
            if stream is not None:
                self._events.dropped(stream, DropReason.PUBLISH)
            return False
        return True

    def submit(self, result: Result) -> None:
        """Queue a result without blocking; a full queue is a counted drop."""
        try:
            self._queue.put_nowait(result)
        except queue.Full:
            self._events.dropped(result.info.stream, DropReason.PUBLISH)

    def status(self, event: StatusEvent) -> None:
        """Queue a status event; waits briefly rather than lose a lifecycle event."""
        try:
            self._queue.put(event, timeout=1.0)
        except queue.Full:
            logger.warning("status event %s lost: publish queue full", event.event)

    def event(self, event: EventMessage) -> bool:
        """Queue an ``_events`` message without blocking; False if the queue was full (it is lost)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            return False
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued, then close the socket."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            logger.warning("publish queue full at shutdown; closing anyway")
        self._thread.join(timeout)

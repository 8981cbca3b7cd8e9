"""Who is connected to the PUB socket, and who failed to: libzmq's socket monitor, read in a thread.

libzmq handles subscribers itself and says nothing of them unless asked; its monitor reports each
connection accepted, each failed handshake and each disconnect. This thread turns those into the
number of open connections and a count of peers refused at the handshake (not ZMTP, a wrong
mechanism, a CURVE key not authorised). A peer cut off for an oversized frame is reported by
libzmq as a plain disconnect, so it shows only as a connection gone.
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum
from typing import Protocol

import zmq
from zmq.utils.monitor import recv_monitor_message

from streamer.memory import trim_heap

logger = logging.getLogger(__name__)

# After a peer leaves, trim the heap once things are quiet for this long (and not more often than
# every TRIM_EVERY_S): what libzmq held for the peer's subscriptions is freed but stays in RSS.
TRIM_AFTER_S = 1.0
TRIM_EVERY_S = 5.0

EVENTS = (
    zmq.EVENT_ACCEPTED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_MONITOR_STOPPED
)


class PeerError(StrEnum):
    """Why a peer of the PUB socket was refused (the ``reason`` label of the peer-errors metric)."""

    HANDSHAKE = "handshake"  # not ZMTP, a truncated greeting, an unknown mechanism or version
    AUTH = "auth"  # CURVE: a client key not in the authorised keys


class PeerEvents(Protocol):
    """What the monitor reports (implemented by the metrics)."""

    def publish_connections(self, open_now: int) -> None: ...
    def peer_error(self, reason: PeerError) -> None: ...


class PeerMonitor(threading.Thread):
    """Owns the monitor socket of the PUB socket; ends when the PUB socket stops its monitor."""

    def __init__(self, monitor: zmq.Socket[bytes], events: PeerEvents) -> None:
        super().__init__(name="publish-peers", daemon=True)
        self._monitor = monitor
        self._events = events
        self._connected: set[int] = set()
        self._trim_at: float | None = None
        self._trimmed = 0.0

    def run(self) -> None:
        try:
            while True:
                try:
                    if not self._monitor.poll(int(TRIM_AFTER_S * 1000)):
                        self._maybe_trim(time.monotonic())
                        continue
                    event = recv_monitor_message(self._monitor)
                except zmq.ZMQError:
                    return
                kind, value = event["event"], int(event["value"])  # a descriptor, or an error code
                if kind == zmq.EVENT_MONITOR_STOPPED:
                    return
                self._on(kind, value)
        finally:
            self._monitor.close(linger=0)

    def _maybe_trim(self, now: float) -> None:
        if self._trim_at is not None and now >= self._trim_at and now - self._trimmed >= TRIM_EVERY_S:
            trim_heap()
            self._trimmed, self._trim_at = now, None

    def _on(self, kind: int, value: int) -> None:
        if kind == zmq.EVENT_ACCEPTED:
            self._connected.add(value)
        elif kind == zmq.EVENT_DISCONNECTED:
            if value in self._connected:
                self._connected.discard(value)
                self._trim_at = time.monotonic() + TRIM_AFTER_S
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._events.peer_error(PeerError.AUTH)
            logger.debug("publish: a peer failed CURVE authentication")
        else:
            self._events.peer_error(PeerError.HANDSHAKE)
            logger.debug("publish: a peer failed the ZMTP handshake")
        self._events.publish_connections(len(self._connected))

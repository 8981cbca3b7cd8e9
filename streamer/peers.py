"""Who is connected to the PUB socket, and who failed to: libzmq's socket monitor, read in a thread.

libzmq handles subscribers itself and says nothing of them unless asked; its monitor reports each
connection's handshake and disconnect. This thread turns those into the number of connected
subscribers and a count of peers refused at the handshake (not ZMTP, a wrong mechanism, a CURVE
key not authorised). A peer cut off for an oversized frame is reported by libzmq as a plain
disconnect, so it shows only as a subscriber gone.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import Protocol

import zmq
from zmq.utils.monitor import recv_monitor_message

logger = logging.getLogger(__name__)

EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
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

    def subscribers(self, connected: int) -> None: ...
    def peer_error(self, reason: PeerError) -> None: ...


class PeerMonitor(threading.Thread):
    """Owns the monitor socket of the PUB socket; ends when the PUB socket stops its monitor."""

    def __init__(self, monitor: zmq.Socket[bytes], events: PeerEvents) -> None:
        super().__init__(name="publish-peers", daemon=True)
        self._monitor = monitor
        self._events = events
        self._connected: set[int] = set()

    def run(self) -> None:
        try:
            while True:
                try:
                    event = recv_monitor_message(self._monitor)
                except zmq.ZMQError:
                    return
                kind, fd = event["event"], int(event["value"])
                if kind == zmq.EVENT_MONITOR_STOPPED:
                    return
                self._on(kind, fd)
        finally:
            self._monitor.close(linger=0)

    def _on(self, kind: int, fd: int) -> None:
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._connected.add(fd)
        elif kind == zmq.EVENT_DISCONNECTED:
            self._connected.discard(fd)
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._events.peer_error(PeerError.AUTH)
            logger.debug("publish: a peer failed CURVE authentication")
        else:
            self._events.peer_error(PeerError.HANDSHAKE)
            logger.debug("publish: a peer failed the ZMTP handshake")
        self._events.subscribers(len(self._connected))

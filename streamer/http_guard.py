"""The HTTP port's connection policy: bounds, timeouts, counted client errors, memory after surges.

:class:`Guard` keeps a record per connection (opened, requests, in a request or idle) for
:mod:`streamer.http`, which feeds it aiohttp's connection events. At the bound, the longest-idle
connection makes room for a new one, else the new one gets a 503; a connection must send its
first request within the header timeout and the next one within the idle timeout. Every client
the server gives up on is counted by reason.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from aiohttp import http_exceptions

from streamer.memory import trim_heap

logger = logging.getLogger("streamer.http")

# Connections closed (all at once or one after another) worth releasing memory after, once few
# are left open.
SURGE = 100
RELEASE_AGAIN_S = 1.25  # after a release, the second one (past aiohttp's 1 s lingering close)


class ClientError(StrEnum):
    """Why the server gave up on a client (the ``reason`` label of the client-errors metric)."""

    TIMEOUT = "timeout"  # no complete request within the header or idle timeout, or a stalled reader
    MALFORMED = "malformed"  # not HTTP, or an invalid request line or header
    OVERSIZED = "oversized"  # request line, a header or the header count over the limits
    DISCONNECTED = "disconnected"  # reset, or gone in the middle of a request
    EVICTED = "evicted"  # an idle connection closed to make room for a new one at the bound
    REFUSED = "refused"  # turned away: at the bound with nothing idle, out of fds, or workers all busy


@dataclass(frozen=True)
class Limits:
    max_connections: int = 1024
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    request_timeout_s: float = 10.0
    workers: int = 2
    # Route calls waiting for a worker: past this a request gets a 503 at once, so a flood of
    # /metrics requests cannot queue minutes of work (counted as refused).
    max_pending: int = 32
    max_line_bytes: int = 8190
    max_headers: int = 64


class HttpEvents(Protocol):
    """What the server reports (implemented by the metrics)."""

    def http_connections(self, open_now: int) -> None: ...
    def http_client_error(self, reason: ClientError) -> None: ...


@dataclass
class Conn:
    key: object  # aiohttp's handler for the connection
    transport: asyncio.Transport
    opened: float
    last_done: float = 0.0
    requests: int = 0
    active: int = 0
    closed_by_us: bool = False
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # set when the connection closes

    @property
    def gone(self) -> bool:
        """The connection is closed: work still queued for it is skipped (read on any thread)."""
        return self.lost.is_set()


class Guard:
    """The connections of one server, keyed by aiohttp's per-connection handler. Loop thread only."""

    def __init__(self, limits: Limits, events: HttpEvents) -> None:
        self.limits = limits
        self.events = events
        self.conns: dict[object, Conn] = {}
        # Open, between requests and not being closed: the longest idle first. At the bound a new
        # connection evicts the first without a scan of every connection (a flood keeps the table
        # full, and each connection past the bound evicts one).
        self.idle: OrderedDict[object, Conn] = OrderedDict()
        self._closed_since_release = 0
        self._release_again_at: float | None = None

    def admit(self) -> bool:
        """Room for one more connection: free already, or made by closing the longest-idle one."""
        if len(self.conns) < self.limits.max_connections:
            return True
        if not self.idle:
            self.events.http_client_error(ClientError.REFUSED)
            return False
        self.close(next(iter(self.idle.values())), ClientError.EVICTED)
        return True

    def opened(self, key: object, transport: asyncio.Transport) -> None:
        conn = Conn(key, transport, time.monotonic())
        self.conns[key] = conn
        self.idle[key] = conn
        self.events.http_connections(len(self.conns))

    def begin(self, key: object) -> Conn | None:
        """A request starts on the connection (None if it is no longer known)."""
        conn = self.conns.get(key)
        if conn is not None:
            conn.requests += 1
            conn.active += 1
            self.idle.pop(key, None)
        return conn

    def end(self, conn: Conn) -> None:
        """A request on the connection is answered: idle again, last in line for eviction."""
        conn.active -= 1
        conn.last_done = time.monotonic()
        if not conn.active and not conn.closed_by_us and conn.key in self.conns:
            self.idle[conn.key] = conn

    def lost(self, key: object, exc: BaseException | None) -> None:
        conn = self.conns.pop(key, None)
        self.idle.pop(key, None)
        if conn is None:
            return
        conn.lost.set()
        self._closed_since_release += 1
        if not conn.closed_by_us and (exc is not None or conn.active):
            self.events.http_client_error(ClientError.DISCONNECTED)
        self.events.http_connections(len(self.conns))

    def sweep(self, now: float) -> None:
        """Close connections past their header or idle timeout (none in the middle of a request)."""
        lim = self.limits
        for conn in list(self.conns.values()):
            if conn.active or conn.closed_by_us:
                continue
            deadline = conn.last_done + lim.idle_timeout_s if conn.requests else conn.opened + lim.header_timeout_s
            if now > deadline:
                self.close(conn, ClientError.TIMEOUT)
        self._release_after_surge(now)

    def close(self, conn: Conn, reason: ClientError) -> None:
        conn.closed_by_us = True
        self.idle.pop(conn.key, None)
        conn.transport.abort()
        self.events.http_client_error(reason)

    def close_all(self) -> None:
        for conn in list(self.conns.values()):
            conn.closed_by_us = True
            conn.transport.abort()

    def _release_after_surge(self, now: float) -> None:
        """After a surge of connections (at once, or a churn of short ones) has gone, hand what it
        held back to the system, and once more 1.25 s later: connections closed in the surge
        linger up to a second (aiohttp's lingering close) and free their buffers then.

        Measured with 1,000 idle clients: freed objects in cycles and a fragmented malloc heap kept
        RSS 1-2 MB higher without this; after 5,000 clients resetting mid-request, RSS stayed 7-16 MB
        up until the next surge's release when there was no second pass (docs/reliability.md).
        """
        if self._closed_since_release >= SURGE and len(self.conns) < SURGE // 4:
            self._closed_since_release = 0
            self._release_again_at = now + RELEASE_AGAIN_S
            _release()
        elif self._release_again_at is not None and now >= self._release_again_at:
            self._release_again_at = None
            _release()


def _release() -> None:
    gc.collect()
    trim_heap()


class ClientLog(logging.Logger):
    """aiohttp reports a bad request through its logger with a traceback: count it, log one DEBUG line."""

    def __init__(self, count: Callable[[ClientError], None]) -> None:
        super().__init__("streamer.http.client")
        self.parent = logger
        self._count = count

    def _report(self, msg: object, args: tuple[object, ...], exc_info: object) -> None:
        if isinstance(exc_info, http_exceptions.HttpProcessingError):
            text = str(exc_info)
            oversized = isinstance(exc_info, http_exceptions.LineTooLong) or "Too many headers" in text
            self._count(ClientError.OVERSIZED if oversized else ClientError.MALFORMED)
            logger.debug("client error: %s", text.splitlines()[0] if text else type(exc_info).__name__)
        elif exc_info not in (None, False):
            logger.debug("http: %s %s: %s", msg, args, exc_info)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **_: Any) -> None:
        self._report(msg, args, exc_info)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **_: Any) -> None:
        self._report(msg, args, exc_info)


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft open-files limit towards ``wanted`` (never above the hard limit);
    returns the soft limit now. The common default of 1,024 is less than the HTTP bound plus the
    cameras, sockets and libraries' own descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            logger.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
    return soft

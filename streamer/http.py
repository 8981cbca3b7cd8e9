"""The daemon's HTTP layer: routes on one asyncio loop in its own thread, hardened against clients.

aiohttp's low-level server parses HTTP; this module adds the policy an exposed port needs. An
idle or slow client costs one file descriptor and a small object, never a thread. Connections
are bounded (at the bound, the longest-idle one makes room, else a 503); a connection must send
its first request within the header timeout and the next one within the idle timeout (slowloris,
half-open and idle clients are closed); a response that cannot be written within the request
timeout is abandoned. Client misbehaviour is counted by reason and logged at DEBUG only, never
as a traceback. Plain routes run their (synchronous) handler on a small thread pool, so a slow
/metrics does not stall the loop; stream routes (the live view) write chunks as they come.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from streamer.errors import ConfigError

logger = logging.getLogger(__name__)

_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ClientError(StrEnum):
    """Why the server gave up on a client (the ``reason`` label of the client-errors metric)."""

    TIMEOUT = "timeout"  # no complete request within the header or idle timeout, or a stalled reader
    MALFORMED = "malformed"  # not HTTP, or an invalid request line or header
    OVERSIZED = "oversized"  # request line, a header or the header count over the limits
    DISCONNECTED = "disconnected"  # reset, or gone before or in the middle of a request
    EVICTED = "evicted"  # an idle connection closed to make room for a new one at the bound
    REFUSED = "refused"  # a new connection turned away: at the bound with nothing idle, or out of fds


@dataclass(frozen=True)
class Limits:
    max_connections: int = 1024
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    request_timeout_s: float = 10.0
    workers: int = 2
    max_line_bytes: int = 8190
    max_headers: int = 64


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class HttpEvents(Protocol):
    """What the server reports (implemented by the metrics)."""

    def http_connections(self, open_now: int) -> None: ...
    def http_client_error(self, reason: ClientError) -> None: ...


Query = Mapping[str, str]
Route = Callable[[Query], Reply]
Chunks = Callable[[Query], AsyncIterator[bytes]]


@dataclass
class _Conn:
    transport: asyncio.Transport
    opened: float
    last_done: float = 0.0
    requests: int = 0
    active: int = 0
    closed_by_us: bool = False


class _ClientLog(logging.Logger):
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


class _Server(web.Server):
    """aiohttp's server, told about every connection so it can bound, time out and count them."""

    def __init__(self, owner: HttpServer, **kwargs: Any) -> None:
        super().__init__(owner._dispatch, **kwargs)
        self.owner = owner

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        if not self.owner._admit():
            transport.write(_BUSY)
            handler.force_close()
            return
        super().connection_made(handler, transport)
        self.owner._conns[handler] = _Conn(transport, time.monotonic())
        self.owner._events.http_connections(len(self.owner._conns))

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        conn = self.owner._conns.pop(handler, None)
        if conn is None:
            return
        if not conn.closed_by_us and (exc is not None or conn.active):
            self.owner._events.http_client_error(ClientError.DISCONNECTED)
        self.owner._events.http_connections(len(self.owner._conns))


class HttpServer:
    """Serves registered routes on ``host:port`` from a thread of its own; add routes before ``start``."""

    def __init__(self, host: str, port: int, events: HttpEvents, limits: Limits | None = None) -> None:
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self._events = events
        self._routes: dict[str, Route] = {}
        self._streams: dict[str, tuple[str, Chunks]] = {}
        self._conns: dict[RequestHandler, _Conn] = {}
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="http-worker")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # -- routes ------------------------------------------------------------------------------
    def add_route(self, path: str, handler: Route) -> None:
        """``GET path``: ``handler(query)`` runs on a worker thread and returns the whole reply."""
        self._routes[path] = handler

    def add_stream(self, path: str, content_type: str, chunks: Chunks) -> None:
        """``GET path``: a streamed 200 reply (e.g. MJPEG); each chunk must be taken by the client
        within the request timeout, or the client is dropped (counted as a timeout)."""
        self._streams[path] = (content_type, chunks)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (ConfigError if the address cannot be bound), then serve in a daemon thread."""
        try:
            sock = socket.create_server((self.host, self.port), family=_family(self.host), backlog=512)
        except OSError as exc:
            raise ConfigError(f"metrics.listen: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name="http", daemon=True)
        self._thread.start()
        ready.wait(10)
        logger.info("http on http://%s:%d/ (%s)", self.host, self.port, ", ".join(sorted(self.paths())))

    def paths(self) -> list[str]:
        return [*self._routes, *self._streams]

    def stop(self, timeout: float = 2.0) -> None:
        """Close every connection and the listening socket; returns within about ``timeout``."""
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(self._loop_error)
        try:
            loop.run_until_complete(self._main(sock, ready))
        finally:
            loop.close()

    async def _main(self, sock: socket.socket, ready: threading.Event) -> None:
        lim = self.limits
        backstop = 2 * max(lim.header_timeout_s, lim.idle_timeout_s)  # ours close first; exact counts
        server = _Server(
            self, keepalive_timeout=backstop, logger=_ClientLog(self._events.http_client_error), access_log=None,
            max_line_size=lim.max_line_bytes, max_field_size=lim.max_line_bytes, max_headers=lim.max_headers,
            lingering_time=1.0,
        )
        listener = await asyncio.get_running_loop().create_server(server, sock=sock)
        ready.set()
        try:
            while not self._stopped.is_set():
                await asyncio.sleep(0.25)
                self._sweep(time.monotonic())
        finally:
            listener.close()
            for conn in list(self._conns.values()):
                conn.closed_by_us = True
                conn.transport.abort()
            await asyncio.sleep(0)  # let connection_lost run before the loop closes

    # -- policy ------------------------------------------------------------------------------
    def _admit(self) -> bool:
        """Room for one more connection: free already, or made by closing the longest-idle one."""
        if len(self._conns) < self.limits.max_connections:
            return True
        idle = [c for c in self._conns.values() if not c.active and not c.closed_by_us]
        if not idle:
            self._events.http_client_error(ClientError.REFUSED)
            return False
        oldest = min(idle, key=lambda c: c.last_done or c.opened)
        self._close(oldest, ClientError.EVICTED)
        return True

    def _sweep(self, now: float) -> None:
        lim = self.limits
        for conn in list(self._conns.values()):
            if conn.active or conn.closed_by_us:
                continue
            deadline = conn.last_done + lim.idle_timeout_s if conn.requests else conn.opened + lim.header_timeout_s
            if now > deadline:
                self._close(conn, ClientError.TIMEOUT)

    def _close(self, conn: _Conn, reason: ClientError) -> None:
        conn.closed_by_us = True
        conn.transport.abort()
        self._events.http_client_error(reason)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
            # Out of file descriptors: asyncio retries accepting in a second; count, no traceback.
            self._events.http_client_error(ClientError.REFUSED)
            logger.warning("http: cannot accept a connection: %s", exc.strerror)
            return
        logger.warning("http: %s%s", context.get("message", "error"), f": {exc!r}" if exc else "")

    # -- requests ----------------------------------------------------------------------------
    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        conn = self._conns.get(request.protocol)
        if conn is not None:
            conn.requests += 1
            conn.active += 1
        try:
            return await self._respond(request, conn)
        finally:
            if conn is not None:
                conn.active -= 1
                conn.last_done = time.monotonic()

    async def _respond(self, request: web.BaseRequest, conn: _Conn | None) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="only GET\n", headers={"Allow": "GET, HEAD"})
        query = dict(request.query)
        route = self._routes.get(request.path)
        if route is not None:
            loop = asyncio.get_running_loop()
            try:
                reply = await asyncio.wait_for(
                    loop.run_in_executor(self._pool, route, query), self.limits.request_timeout_s
                )
            except TimeoutError:
                logger.warning("http: %s took over %.0f s", request.path, self.limits.request_timeout_s)
                return web.Response(status=503, text="timed out\n")
            except Exception as exc:  # a route's bug must cost one reply, not the server
                logger.error("http: %s failed: %s: %s", request.path, type(exc).__name__, exc)
                return web.Response(status=500, text="internal error\n")
            return web.Response(status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type})
        stream = self._streams.get(request.path)
        if stream is not None:
            return await self._stream(request, conn, *stream, query)
        known = ", ".join(sorted(self.paths()))
        return web.Response(status=404, text=f"not found; try {known}\n")

    async def _stream(
        self, request: web.BaseRequest, conn: _Conn | None, content_type: str, chunks: Chunks, query: Query
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-store"})
        await response.prepare(request)
        try:
            async for chunk in chunks(query):
                await asyncio.wait_for(response.write(chunk), self.limits.request_timeout_s)
        except TimeoutError:
            if conn is not None:
                self._close(conn, ClientError.TIMEOUT)
        except ConnectionError:
            pass  # the client left: counted when its connection is lost
        return response


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


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET

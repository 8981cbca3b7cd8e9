"""The daemon's HTTP layer: routes on one asyncio loop in its own thread, hardened against clients.

aiohttp's low-level server parses HTTP; :mod:`streamer.http_guard` holds the policy an exposed
port needs (bounded connections, header and idle timeouts, counted client errors). An idle or
slow client costs one file descriptor and a small object, never a thread. Plain routes run their
(synchronous) handler on a small thread pool within the request timeout, so a slow /metrics does
not stall the loop; stream routes (the live view) write chunks as they come, and a viewer that
does not take a chunk within the request timeout is dropped. Client misbehaviour is logged at
DEBUG only, never as a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from streamer.errors import ConfigError
from streamer.http_guard import ClientError, ClientLog, Conn, Guard, HttpEvents, Limits, raise_fd_limit

__all__ = [
    "Chunks",
    "ClientError",
    "HttpEvents",
    "HttpServer",
    "Limits",
    "Query",
    "Reply",
    "Route",
    "Streamed",
    "raise_fd_limit",
]

logger = logging.getLogger(__name__)

# Connections the kernel completes before the loop accepts them (capped by net.core.somaxconn).
BACKLOG = 1024
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


Query = Mapping[str, str]
Route = Callable[[Query], Reply]
Chunks = Callable[[Query], AsyncIterator[bytes]]


@dataclass(frozen=True)
class Streamed:
    """A streamed reply: its content type, the chunks (written as they come), and what to call
    once the reply ends, however it ends (the client left, was dropped, or the chunks ran out)."""

    content_type: str
    chunks: AsyncIterator[bytes]
    done: Callable[[], None] | None = None


# Under a path prefix: (the rest of the path, query) -> a whole reply, or a streamed one. It runs on
# the event loop, so it must only look things up; slow work goes in the chunks (awaiting an executor).
Prefixed = Callable[[str, Query], "Reply | Streamed"]


class _Server(web.Server):
    """aiohttp's server, telling the guard about every connection (and turning one away at the bound)."""

    def __init__(self, guard: Guard, handler: Callable[[web.BaseRequest], Any], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.guard = guard

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        if not self.guard.admit():
            transport.write(_BUSY)
            handler.force_close()
            return
        super().connection_made(handler, transport)
        self.guard.opened(handler, transport)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self.guard.lost(handler, exc)


class HttpServer:
    """Serves registered routes on ``host:port`` from a thread of its own; add routes before ``start``."""

    def __init__(self, host: str, port: int, events: HttpEvents, limits: Limits | None = None) -> None:
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self._guard = Guard(self.limits, events)
        self._routes: dict[str, Route] = {}
        self._streams: dict[str, tuple[str, Chunks]] = {}
        self._prefixed: dict[str, Prefixed] = {}
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="http-worker")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._pending = 0  # route calls queued or running (loop thread only)

    # -- routes ------------------------------------------------------------------------------
    def add_route(self, path: str, handler: Route) -> None:
        """``GET path``: ``handler(query)`` runs on a worker thread and returns the whole reply."""
        self._routes[path] = handler

    def add_stream(self, path: str, content_type: str, chunks: Chunks) -> None:
        """``GET path``: a streamed 200 reply (e.g. MJPEG); each chunk must be taken by the client
        within the request timeout, or the client is dropped (counted as a timeout)."""
        self._streams[path] = (content_type, chunks)

    def add_prefix(self, prefix: str, handler: Prefixed) -> None:
        """``GET prefix<rest>``: ``handler(rest, query)`` on the loop, for paths that name a thing (a stream)."""
        self._prefixed[prefix] = handler

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (ConfigError if the address cannot be bound), then serve in a daemon thread."""
        try:
            sock = socket.create_server((self.host, self.port), family=_family(self.host), backlog=BACKLOG)
        except OSError as exc:
            raise ConfigError(f"metrics.listen: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        # Start the workers now: the thread count is then fixed from the start, instead of growing
        # with the first concurrent requests (a reading of threads before/after would move).
        for _ in range(self.limits.workers):
            self._pool.submit(time.sleep, 0.01)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name="http", daemon=True)
        self._thread.start()
        ready.wait(10)
        logger.info("http on http://%s:%d/ (%s)", self.host, self.port, ", ".join(sorted(self.paths())))

    def paths(self) -> list[str]:
        return [*self._routes, *self._streams, *(p + "..." for p in self._prefixed)]

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
            self._guard,
            self._dispatch,
            keepalive_timeout=backstop,
            logger=ClientLog(self._guard.events.http_client_error),
            access_log=None,
            max_line_size=lim.max_line_bytes,
            max_field_size=lim.max_line_bytes,
            max_headers=lim.max_headers,
            lingering_time=1.0,
        )
        # asyncio listens again with its own backlog (100 by default): a surge of connects past it has
        # its SYNs dropped and retried a second later, /healthz's among them.
        listener = await asyncio.get_running_loop().create_server(server, sock=sock, backlog=BACKLOG)
        ready.set()
        try:
            while not self._stopped.is_set():
                await asyncio.sleep(0.25)
                self._guard.sweep(time.monotonic())
        finally:
            listener.close()
            self._guard.close_all()
            await asyncio.sleep(0)  # let connection_lost run before the loop closes

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
            # Out of file descriptors: asyncio retries accepting in a second; count, no traceback.
            self._guard.events.http_client_error(ClientError.REFUSED)
            logger.warning("http: cannot accept a connection: %s", exc.strerror)
            return
        logger.warning("http: %s%s", context.get("message", "error"), f": {exc!r}" if exc else "")

    # -- requests ----------------------------------------------------------------------------
    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        conn = self._guard.begin(request.protocol)
        try:
            return await self._respond(request, conn)
        finally:
            if conn is not None:
                self._guard.end(conn)

    async def _respond(self, request: web.BaseRequest, conn: Conn | None) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="only GET\n", headers={"Allow": "GET, HEAD"})
        query = dict(request.query)
        route = self._routes.get(request.path)
        if route is not None:
            return await self._call(request.path, route, query, conn)
        stream = self._streams.get(request.path)
        if stream is not None:
            content_type, chunks = stream
            return await self._stream(request, conn, Streamed(content_type, chunks(query)))
        for prefix, handler in self._prefixed.items():
            if request.path.startswith(prefix) and len(request.path) > len(prefix):
                reply = handler(request.path[len(prefix) :], query)
                if isinstance(reply, Streamed):
                    return await self._stream(request, conn, reply)
                return web.Response(status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type})
        known = ", ".join(sorted(self.paths()))
        return web.Response(status=404, text=f"not found; try {known}\n")

    async def _call(self, path: str, route: Route, query: Query, conn: Conn | None) -> web.StreamResponse:
        """Run a plain route on a worker, unless too much is queued already."""
        if self._pending >= self.limits.max_pending:
            self._guard.events.http_client_error(ClientError.REFUSED)
            return web.Response(status=503, text="busy\n", headers={"Retry-After": "1"})
        self._pending += 1
        loop = asyncio.get_running_loop()
        try:
            reply = await asyncio.wait_for(
                loop.run_in_executor(self._pool, _unless_gone, route, query, conn), self.limits.request_timeout_s
            )
        except TimeoutError:
            logger.warning("http: %s took over %.0f s", path, self.limits.request_timeout_s)
            return web.Response(status=503, text="timed out\n")
        except Exception as exc:  # a route's bug must cost one reply, not the server
            logger.error("http: %s failed: %s: %s", path, type(exc).__name__, exc)
            return web.Response(status=500, text="internal error\n")
        finally:
            self._pending -= 1
        if reply is None:  # the client left before a worker got to it
            return web.Response(status=499)
        return web.Response(status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type})

    async def _stream(self, request: web.BaseRequest, conn: Conn | None, reply: Streamed) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": reply.content_type, "Cache-Control": "no-store"})
        try:
            await response.prepare(request)
            while (chunk := await _next_unless_lost(reply.chunks, conn)) is not None:
                await asyncio.wait_for(response.write(chunk), self.limits.request_timeout_s)
        except TimeoutError:
            if conn is not None:
                self._guard.close(conn, ClientError.TIMEOUT)
        except ConnectionError:
            pass  # the client left: counted when its connection is lost
        finally:
            aclose = getattr(reply.chunks, "aclose", None)
            if aclose is not None:
                await aclose()  # the producer's own clean-up runs now, not whenever it is collected
            if reply.done is not None:
                reply.done()
        return response


async def _next_unless_lost(chunks: AsyncIterator[bytes], conn: Conn | None) -> bytes | None:
    """The next chunk, or None once the chunks run out or the client leaves while it is being made.

    A producer may wait long for its next chunk (a stream's next picture); a client that leaves
    meanwhile ends the wait at once, so what it holds (a viewer slot) comes back at once.
    """
    following = asyncio.ensure_future(anext(chunks))
    if conn is not None and not conn.gone:
        lost = asyncio.ensure_future(conn.lost.wait())
        await asyncio.wait((following, lost), return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
    if conn is not None and conn.gone:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await following
        return None
    try:
        return await following
    except StopAsyncIteration:
        return None


def _unless_gone(route: Route, query: Query, conn: Conn | None) -> Reply | None:
    """On a worker: the route's reply, or None if the client has gone meanwhile (its work is skipped)."""
    if conn is not None and conn.gone:
        return None
    return route(query)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET

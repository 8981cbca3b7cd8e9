"""The HTTP layer on a real socket: routes, bounds, timeouts and counted client errors."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

from streamer.http import ClientError, HttpServer, Limits, Query, Reply, Streamed

FAST = Limits(max_connections=8, header_timeout_s=0.6, idle_timeout_s=0.8, request_timeout_s=0.6)


class Events:
    def __init__(self) -> None:
        self.errors: Counter[ClientError] = Counter()
        self.open_now = 0

    def http_connections(self, open_now: int) -> None:
        self.open_now = open_now

    def http_client_error(self, reason: ClientError) -> None:
        self.errors[reason] += 1


@pytest.fixture
def events() -> Events:
    return Events()


def start(events: Events, limits: Limits = FAST) -> HttpServer:
    server = HttpServer("127.0.0.1", 0, events, limits)
    server.add_route("/hello", lambda q: Reply(200, "text/plain", f"hello {q.get('name', 'you')}\n".encode()))

    def slow(_q: Query) -> Reply:
        time.sleep(0.4)
        return Reply(200, "text/plain", b"late\n")

    server.add_route("/slow", slow)

    def broken(_q: Query) -> Reply:
        raise ValueError("a bug in a route")

    server.add_route("/broken", broken)

    async def counting(_q: Query) -> AsyncIterator[bytes]:
        for i in range(100_000):
            yield f"--frame\r\n{i}\r\n".encode() + b"x" * 60_000
            await asyncio.sleep(0)

    server.add_stream("/stream", "multipart/x-mixed-replace; boundary=frame", counting)
    server.start()
    return server


@pytest.fixture
def server(events: Events) -> Iterator[HttpServer]:
    srv = start(events)
    yield srv
    srv.stop()


def get(server: HttpServer, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=3) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def raw(server: HttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=3)


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Read until the server closes (True) or ``seconds`` pass (False); returns what came."""
    sock.settimeout(0.05)
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


def test_routes_404_405_and_a_broken_route(server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    assert get(server, "/hello?name=cam") == (200, b"hello cam\n")
    status, body = get(server, "/nope")
    assert status == 404 and b"/hello" in body
    sock = raw(server)
    sock.sendall(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert closed_within(sock, 0.3)[1].startswith(b"HTTP/1.1 405")
    with caplog.at_level(logging.DEBUG):
        assert get(server, "/broken")[0] == 500
    assert "a bug in a route" in caplog.text and "Traceback" not in caplog.text


def test_silent_and_slowloris_clients_time_out(server: HttpServer, events: Events) -> None:
    silent = raw(server)
    slow = raw(server)
    t0 = time.monotonic()
    cut_off = None
    for byte in b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":  # 50 ms per byte
        try:
            slow.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            cut_off = time.monotonic() - t0
            break
        time.sleep(0.05)
    assert cut_off is not None and cut_off < 1.5, cut_off
    assert closed_within(silent, 1.5)[0]
    assert events.errors[ClientError.TIMEOUT] == 2
    assert get(server, "/hello")[0] == 200


def test_keep_alive_connection_is_closed_after_the_idle_timeout(server: HttpServer, events: Events) -> None:
    sock = raw(server)
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    closed, data = closed_within(sock, 0.4)
    assert not closed and data.startswith(b"HTTP/1.1 200")
    assert closed_within(sock, 1.5)[0]
    assert events.errors[ClientError.TIMEOUT] == 1


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"GARBAGE\r\n\r\n", ClientError.MALFORMED),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, ClientError.MALFORMED),  # TLS hello
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", ClientError.OVERSIZED),
        (b"GET /hello HTTP/1.1\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", ClientError.OVERSIZED),
        (
            b"GET /hello HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
            ClientError.OVERSIZED,
        ),
    ],
)
def test_bad_requests_get_400_and_are_counted_quietly(
    server: HttpServer, events: Events, request_bytes: bytes, reason: ClientError, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        sock = raw(server)
        sock.sendall(request_bytes)
        closed, data = closed_within(sock, 1.0)
    assert closed and data[:12] in (b"HTTP/1.1 400", b"HTTP/1.0 400"), data[:80]
    assert events.errors == Counter({reason: 1})
    assert caplog.text == ""
    assert get(server, "/hello")[0] == 200


def test_client_gone_mid_request_is_counted(server: HttpServer, events: Events) -> None:
    sock = raw(server)
    sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    sock.close()
    time.sleep(0.6)
    assert events.errors[ClientError.DISCONNECTED] == 1
    assert get(server, "/hello")[0] == 200


def test_at_the_bound_the_longest_idle_makes_room_and_streams_are_never_evicted(events: Events) -> None:
    server = start(events, Limits(max_connections=3, header_timeout_s=5, idle_timeout_s=5, request_timeout_s=5))
    try:
        idle = [raw(server) for _ in range(3)]
        time.sleep(0.2)
        assert get(server, "/hello")[0] == 200  # made room by closing the oldest idle connection
        assert closed_within(idle[0], 0.5)[0]
        assert events.errors[ClientError.EVICTED] == 1
        for s in idle[1:]:
            s.close()
        viewers = [raw(server) for _ in range(3)]
        for v in viewers:
            v.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            v.recv(1000)
        time.sleep(0.2)
        late = raw(server)
        assert closed_within(late, 1.0)[1].startswith(b"HTTP/1.1 503")
        assert events.errors[ClientError.REFUSED] == 1
    finally:
        server.stop()


def test_a_stream_viewer_that_stops_reading_is_dropped(server: HttpServer, events: Events) -> None:
    sock = raw(server)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 200")
    time.sleep(2.0)  # never read again: the server's writes stall, then it gives up
    assert events.errors[ClientError.TIMEOUT] == 1
    assert events.open_now == 0
    assert get(server, "/hello")[0] == 200


def test_idle_connections_cost_no_threads_and_stop_is_quick(events: Events) -> None:
    server = start(events, Limits(max_connections=400, header_timeout_s=30, idle_timeout_s=30))
    threads_before = threading.active_count()
    socks = [raw(server) for _ in range(300)]
    time.sleep(0.3)
    t0 = time.monotonic()
    assert get(server, "/hello")[0] == 200
    assert time.monotonic() - t0 < 2.0  # typically a few ms; room for a loaded CI machine
    assert threading.active_count() - threads_before <= 2  # at most the worker pool's threads
    deadline = time.monotonic() + 2.0  # the probe's own connection closes a moment after its reply
    while events.open_now != 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events.open_now == 300
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 1.0
    assert all(closed_within(s, 0.5)[0] for s in socks[:20])
    assert events.errors[ClientError.TIMEOUT] == 0


def test_a_flood_of_requests_queues_bounded_work_and_skips_clients_gone(events: Events) -> None:
    server = HttpServer("127.0.0.1", 0, events, Limits(workers=1, max_pending=4, request_timeout_s=5))
    calls: list[float] = []

    def slow(_q: Query) -> Reply:
        calls.append(time.monotonic())
        time.sleep(0.1)
        return Reply(200, "text/plain", b"ok\n")

    server.add_route("/slow", slow)
    server.start()
    try:
        for _ in range(40):  # ask and leave at once (RST)
            s = raw(server)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        time.sleep(1.0)
        assert len(calls) < 10, f"{len(calls)} route calls ran for 40 clients that had left"
        refused_flood = events.errors[ClientError.REFUSED]
        held = [raw(server) for _ in range(12)]
        for s in held:
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in held:
            s.settimeout(5)
        replies = [s.recv(100) for s in held]
        busy = sum(r.startswith(b"HTTP/1.1 503") for r in replies)
        assert busy >= 12 - 4 - 1, replies
        assert events.errors[ClientError.REFUSED] - refused_flood == busy
    finally:
        server.stop()


def test_a_viewer_that_leaves_while_its_next_chunk_is_awaited_is_released_at_once(events: Events) -> None:
    """A producer may wait long for its next chunk (a stream's next picture): a client that leaves
    meanwhile ends the reply at once, running the producer's clean-up and the reply's ``done``."""
    released = threading.Event()
    cleaned = threading.Event()

    async def waits_forever() -> AsyncIterator[bytes]:
        try:
            yield b"--frame\r\nfirst\r\n"
            await asyncio.Event().wait()  # the next picture never comes
            yield b"never"
        finally:
            cleaned.set()

    server = HttpServer("127.0.0.1", 0, events, FAST)
    server.add_prefix("/s/", lambda _rest, _q: Streamed("text/plain", waits_forever(), done=released.set))
    server.start()
    try:
        sock = raw(server)
        sock.sendall(b"GET /s/x HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"first" not in got:
            got += sock.recv(4096)
        assert got.startswith(b"HTTP/1.1 200") and not released.is_set()
        sock.close()
        assert released.wait(0.5), "the reply ended when its client left, not at the producer's next chunk"
        assert cleaned.is_set()
    finally:
        server.stop()

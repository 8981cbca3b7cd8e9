"""Hostile clients of the daemon's ports, each a plain function run from the test process.

Every attack takes the address, a size and a duration, does its harm, stops, and returns a short
note of what it saw the daemon do (closed, answered, cut off). They are shared by the standing
suite (small sizes) and the campaign (large ones).
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import select
import socket
import struct
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.hostile.zmtp import RawSub, greeting, subscribe

__all__ = ["RawSub"]


def ensure_fds(n: int) -> None:
    """Let this process hold ``n`` sockets (plus its own files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


@dataclass
class Probe:
    """/healthz latencies measured while an attack runs."""

    port: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def once(self) -> None:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=3) as r:
                r.read()
            self.latencies.append(time.monotonic() - t0)
        except OSError:
            self.failures += 1

    def during(self, seconds: float, every: float = 0.2) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.once()
            time.sleep(every)

    def summary(self) -> str:
        if not self.latencies:
            return f"/healthz: {self.failures} failed, none answered"
        ms = sorted(x * 1000 for x in self.latencies)
        return f"/healthz p50 {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms, {self.failures} failed"


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def open_many(port: int, n: int, timeout: float = 30.0) -> list[socket.socket]:
    """``n`` connections opened in parallel (non-blocking connects), as fast as the server accepts."""
    ensure_fds(n)
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    poller = select.poll()  # select() stops at fd 1024
    for s in socks:
        poller.register(s, select.POLLOUT)
    pending = {s.fileno() for s in socks}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(500):
            pending.discard(fd)
            poller.unregister(fd)
    for s in socks:
        s.setblocking(True)
        s.settimeout(5)
    return socks


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _reset_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_closed(socks: list[socket.socket], timeout: float) -> int:
    """Wait until the server closed every socket or ``timeout``; returns how many it closed."""
    deadline = time.monotonic() + timeout
    pending = list(socks)
    while pending and time.monotonic() < deadline:
        pending = [s for s in pending if not _closed(s)]
        time.sleep(0.1)
    return len(socks) - len(pending)


def http_idle(port: int, n: int, hold_s: float, wait_close_s: float) -> str:
    """``n`` connections that send nothing; /healthz probed meanwhile; then wait for the server to close them."""
    socks = open_many(port, n)
    probe = Probe(port)
    probe.during(hold_s)
    closed = wait_closed(socks, wait_close_s)
    for s in socks:
        s.close()
    return f"{n} idle held; {probe.summary()}; {closed}/{n} closed by the daemon"


def http_slowloris(port: int, n: int, seconds: float) -> str:
    """``n`` connections each dribbling a never-ending header, a byte per half second."""
    socks = open_many(port, n)
    line = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-a: " + b"b" * 10_000
    cut = 0
    alive = list(socks)
    deadline = time.monotonic() + seconds
    i = 0
    while alive and time.monotonic() < deadline:
        still = []
        for s in alive:
            try:
                s.send(line[i : i + 1])
                still.append(s)
            except OSError:
                cut += 1
        alive = still
        i += 1
        time.sleep(0.5)
    for s in socks:
        s.close()
    return f"{cut}/{n} slow-header clients cut off within {seconds:.0f} s"


BAD_REQUESTS: tuple[bytes, ...] = (
    b"GARBAGE\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS client hello
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
    b"GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
)


def http_bad_requests(port: int, n: int) -> str:
    """``n`` malformed or oversized requests (cycling through ``BAD_REQUESTS``)."""
    answered = 0
    for i in range(n):
        with contextlib.closing(_connect(port)) as s:
            try:
                s.sendall(BAD_REQUESTS[i % len(BAD_REQUESTS)])
                answered += s.recv(100).startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))
            except OSError:
                pass
    return f"{answered}/{n} bad requests answered 4xx"


def http_disconnects(port: int, n: int, path: str = "/metrics") -> str:
    """``n`` clients that ask for ``path`` and reset the connection at once."""
    for _ in range(n):
        s = _connect(port)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        _reset_close(s)
    return f"{n} clients reset right after their request"


def http_over_the_bound(port: int, n: int, hold_s: float) -> str:
    """More connections than the server's bound, each idle after one keep-alive request it does not
    read; /healthz must still be answered (room made by closing the longest-idle)."""
    socks = open_many(port, n)
    for s in socks:
        with contextlib.suppress(OSError):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    probe = Probe(port)
    probe.during(hold_s)
    closed = sum(_closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} idle opened, {closed} closed to make room; {probe.summary()}"


def zmtp_huge_frames(port: int, peers: int, send_each: int) -> str:
    """Peers that complete the handshake as SUB and declare a 2 GiB frame."""
    sent, cut = [], 0
    for _ in range(peers):
        peer = RawSub("127.0.0.1", port)
        sent.append(peer.declare_huge_frame(2 << 30, send_each))
        cut += peer.closed_by_peer(2.0)
        peer.close()
    return f"{cut}/{peers} cut at the frame header after {max(sent) / 2**20:.1f} MB at most"


def zmtp_subscriptions(port: int, n: int) -> str:
    """One peer sending ``n`` distinct subscriptions, then leaving."""
    peer = RawSub("127.0.0.1", port)
    batch = bytearray()
    for i in range(n):
        batch += subscribe(b"topic-%08d" % i)
        if len(batch) > 1 << 16:
            peer.send(bytes(batch))
            batch.clear()
    peer.send(bytes(batch))
    time.sleep(0.5)
    peer.close()
    return f"{n} subscriptions sent by one peer, then it left"


def zmtp_garbage(port: int, n: int, seed: int = 0) -> str:
    """Connections with random bytes, truncated or wrong greetings, and unknown mechanisms."""
    rng = random.Random(seed)
    kinds: list[Callable[[], bytes]] = [
        lambda: rng.randbytes(rng.randint(1, 4096)),
        lambda: greeting()[: rng.randint(1, 63)],
        lambda: greeting(b"BOGUS") + rng.randbytes(100),
        lambda: b"\xff" + b"\x00" * 8 + b"\x7f\x01" + rng.randbytes(200),  # ZMTP 1.0 then noise
    ]
    for i in range(n):
        with contextlib.suppress(OSError), contextlib.closing(_connect(port)) as s:
            s.sendall(kinds[i % len(kinds)]())
    return f"{n} garbage handshakes"


def random_seed() -> int:
    return int.from_bytes(os.urandom(4), "big")

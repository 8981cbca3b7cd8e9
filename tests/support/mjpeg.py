"""Camera-like HTTP sources for tests: an MJPEG feed (multipart JPEGs) and hostile HTTP servers.

:class:`MjpegServer` sends real JPEGs (``cv2.imencode``) at a fixed rate to each client, as an IP
camera's ``/mjpeg`` endpoint does; it can make every n-th JPEG undecodable (random bytes of the
same length) and change the frame size at a given frame. :class:`HostileHttpServer` answers with
random bytes, endless headers, or nothing at all.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType
from typing import Self

import cv2
import numpy as np

BOUNDARY = b"frame"
Size = tuple[int, int]


def jpeg(index: int, size: Size) -> bytes:
    """A JPEG of ``size`` whose content moves with ``index`` (a bar and a block, on a gradient)."""
    width, height = size
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 1] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]
    x = (index * 7) % max(1, width - 16)
    image[:, x : x + 16] = 255
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return bytes(data.tobytes())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    """A threaded TCP server on 127.0.0.1 with a free port, each client served by ``serve``."""

    def __init__(self) -> None:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                with contextlib.suppress(OSError):
                    owner.serve(self.request)

        self.connections = 0
        self.closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def url(self, path: str = "/video") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _read_request(conn: socket.socket) -> None:
    """Read (and ignore) the client's request headers."""
    conn.settimeout(5.0)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    conn.settimeout(None)


class MjpegServer(_Base):
    """``multipart/x-mixed-replace`` JPEGs at ``fps`` per client, each client from frame 0.

    ``corrupt_every = n`` replaces every n-th JPEG (indices n-1, 2n-1, ...) by random bytes;
    ``size_at(index)`` gives each frame's size. ``sent`` and ``corrupted`` count over all clients.
    """

    def __init__(
        self, fps: float = 25.0, *, corrupt_every: int = 0, size_at: Callable[[int], Size] = lambda i: (320, 240)
    ) -> None:
        self.fps = fps
        self.corrupt_every = corrupt_every
        self.size_at = size_at
        self.sent = 0
        self.corrupted = 0
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(
            b"HTTP/1.0 200 OK\r\nCache-Control: no-cache\r\n"
            b"Content-Type: multipart/x-mixed-replace;boundary=" + BOUNDARY + b"\r\n\r\n"
        )
        cache: dict[Size, bytes] = {}
        due = time.monotonic()
        index = 0
        while not self.closing.is_set():
            size = self.size_at(index)
            data = cache[size] if size in cache and index % 5 else jpeg(index, size)
            cache[size] = data
            if self.corrupt_every and index % self.corrupt_every == self.corrupt_every - 1:
                data = os.urandom(len(data))
                self.corrupted += 1
            part = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (BOUNDARY, len(data), data)
            conn.sendall(part)
            self.sent += 1
            index += 1
            due += 1.0 / self.fps
            time.sleep(max(0.0, due - time.monotonic()))


class Hostility(StrEnum):
    GARBAGE = "garbage"  # a status line, then random bytes forever
    HEADERS = "headers"  # a status line, then header lines forever
    SILENT = "silent"  # accepts, reads the request, never answers


class HostileHttpServer(_Base):
    """An HTTP server that answers every client in one hostile way, at ``rate`` bytes per second."""

    def __init__(self, hostility: Hostility, rate: int = 256 * 1024) -> None:
        self.hostility = hostility
        self.rate = rate
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        _read_request(conn)
        if self.hostility is Hostility.SILENT:
            self.closing.wait()
            return
        conn.sendall(b"HTTP/1.0 200 OK\r\n")
        if self.hostility is Hostility.GARBAGE:
            conn.sendall(b"Content-Type: multipart/x-mixed-replace;boundary=" + BOUNDARY + b"\r\n\r\n")
        chunk = 16 * 1024
        n = 0
        while not self.closing.is_set():
            if self.hostility is Hostility.GARBAGE:
                conn.sendall(os.urandom(chunk))
            else:
                conn.sendall(b"".join(b"X-Header-%d: %s\r\n" % (n + i, b"v" * 40) for i in range(chunk // 60)))
                n += chunk // 60
            time.sleep(chunk / self.rate)

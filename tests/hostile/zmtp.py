"""A raw TCP peer that speaks just enough ZMTP 3 to reach a PUB socket's message decoder.

It sends the greeting and a READY command as a SUB socket (NULL mechanism), then whatever frames a
test wants: valid subscriptions by the thousand, or one frame whose header declares gigabytes.
"""

from __future__ import annotations

import socket
import struct
import time

_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"
_FLAG_MORE, _FLAG_LONG, _FLAG_COMMAND = 0x01, 0x02, 0x04


def greeting(mechanism: bytes = b"NULL") -> bytes:
    """The 64-byte ZMTP 3.0 greeting of a client."""
    return _SIGNATURE + b"\x03\x00" + mechanism.ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def _frame_header(flags: int, size: int) -> bytes:
    if size > 255:
        return struct.pack(">BQ", flags | _FLAG_LONG, size)
    return struct.pack(">BB", flags, size)


def command(name: bytes, body: bytes) -> bytes:
    payload = bytes([len(name)]) + name + body
    return _frame_header(_FLAG_COMMAND, len(payload)) + payload


def ready(socket_type: bytes = b"SUB") -> bytes:
    prop = b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    return command(b"READY", prop)


def message(body: bytes) -> bytes:
    """One single-frame message."""
    return _frame_header(0, len(body)) + body


def subscribe(topic: bytes) -> bytes:
    """A subscription as a SUB socket sends it: a message of 0x01 + topic."""
    return message(b"\x01" + topic)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed during the handshake")
        data += chunk
    return data


class RawSub:
    """A connected raw SUB peer, handshake done."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.sendall(greeting() + ready())
        theirs = _recv_exact(self.sock, 64)
        if theirs[:1] != b"\xff" or theirs[9:10] != b"\x7f":
            raise ConnectionError(f"not a ZMTP peer: {theirs[:10]!r}")
        (flags,) = _recv_exact(self.sock, 1)
        size = struct.unpack(">Q", _recv_exact(self.sock, 8))[0] if flags & _FLAG_LONG else _recv_exact(self.sock, 1)[0]
        body = _recv_exact(self.sock, size)
        if not body.startswith(b"\x05READY"):
            raise ConnectionError(f"expected READY, got {body[:16]!r}")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def declare_huge_frame(self, declared: int, send_bytes: int, chunk: int = 1 << 20) -> int:
        """Declare a ``declared``-byte frame, then send up to ``send_bytes`` of it; returns bytes sent
        before the daemon closed the connection (all of them if it never did)."""
        self.sock.sendall(_frame_header(0, declared))
        sent = 0
        block = b"\x00" * chunk
        self.sock.settimeout(2.0)
        try:
            while sent < send_bytes:
                sent += self.sock.send(block[: min(chunk, send_bytes - sent)])
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        return sent

    def closed_by_peer(self, within: float = 2.0) -> bool:
        """Whether the daemon closed this connection (EOF or reset) within ``within`` seconds."""
        deadline = time.monotonic() + within
        self.sock.settimeout(0.1)
        while time.monotonic() < deadline:
            try:
                if self.sock.recv(65536) == b"":
                    return True
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
        return False

    def close(self) -> None:
        self.sock.close()

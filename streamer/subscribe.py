"""``streamer subscribe``: a SUB socket that prints published messages as JSON lines."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import zmq
import zmq.auth

from streamer.config import STATUS_TOPIC
from streamer.errors import ConfigError


def open_sub(
    endpoint: str,
    stream: str | None,
    *,
    server_key: Path | None = None,
    client_cert: Path | None = None,
    ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
    retry_ms: int = 100,
) -> zmq.Socket[bytes]:
    """A connected SUB socket for one stream (or every topic), optionally CURVE-authenticated.

    Until the publisher is there, the connection is retried every ``retry_ms``.
    """
    context = ctx or zmq.Context.instance()
    sock: zmq.Socket[bytes] = context.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RECONNECT_IVL, retry_ms)
    if server_key is not None:
        try:
            server_public, _ = zmq.auth.load_certificate(server_key)
            cert = client_cert if client_cert is not None else server_key
            public, secret = zmq.auth.load_certificate(cert)
        except (OSError, ValueError) as exc:
            sock.close()
            raise ConfigError(f"--curve-server-key/--curve-client-cert: {exc}") from None
        if secret is None:
            sock.close()
            raise ConfigError("--curve-client-cert: the file holds no secret key")
        sock.curve_serverkey = server_public
        sock.curve_publickey = public
        sock.curve_secretkey = secret
    if stream is None:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    else:
        # Topics are prefix-matched; the exact-name check below drops "cam1" when asking for "cam".
        sock.setsockopt(zmq.SUBSCRIBE, stream.encode())
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close()
        raise ConfigError(f"--endpoint: cannot connect to {endpoint!r}: {exc}") from None
    return sock


def receive(
    sock: zmq.Socket[bytes],
    stream: str | None,
    on_message: Callable[[str, dict[str, Any]], None],
    *,
    count: int | None = None,
    timeout_s: float | None = None,
    include_status: bool = True,
) -> int:
    """Deliver decoded messages until ``count`` or ``timeout_s``; returns how many were delivered."""
    seen = 0
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while count is None or seen < count:
        wait_ms = 500 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        if deadline is not None and wait_ms == 0:
            break
        if not dict(poller.poll(min(wait_ms, 500))):
            continue
        parts = sock.recv_multipart()
        if len(parts) != 2:
            continue
        topic = parts[0].decode("utf-8", "replace")
        if stream is not None and topic != stream:
            continue
        if topic == STATUS_TOPIC and not include_status:
            continue
        try:
            message = json.loads(parts[1])
        except ValueError:
            continue
        on_message(topic, message)
        seen += 1
    return seen


def json_lines(out: TextIO = sys.stdout) -> Callable[[str, dict[str, Any]], None]:
    """A message printer writing one JSON object per line, flushed (pipes see it at once)."""

    def write(_topic: str, message: dict[str, Any]) -> None:
        out.write(json.dumps(message, separators=(",", ":")) + "\n")
        out.flush()

    return write


def _object(d: dict[str, Any]) -> str:
    """A detection in a few words: its track, label and the per-object sequence label if any."""
    track = f"#{d['track_id']} " if d.get("track_id") is not None else ""
    motion = f" {d['sequence']['label']}" if d.get("sequence") else ""
    return f"{track}{d['label']}{motion}"


def summary_lines(out: TextIO = sys.stdout) -> Callable[[str, dict[str, Any]], None]:
    """A message printer writing one short human line per message."""

    def write(topic: str, m: dict[str, Any]) -> None:
        if m.get("type") == "status":
            line = f"[status] {m.get('event')} {m.get('stream') or ''} {m.get('state') or ''} {m.get('detail', '')}"
        elif m.get("type") == "event":
            what = [
                f"{key}={m[key]}"
                for key in ("zone", "line", "direction", "track_id", "label", "rule", "path")
                if key in m
            ]
            line = f"[event] {m.get('event')} {m.get('stream', '')} {' '.join(what)}"
        else:
            parts = [f"{topic} #{m['seq']}"]
            for name, body in m["models"].items():
                if body.get("top"):
                    best = body["top"][0]
                    parts.append(f"{name}={best['label']}({best['score']:.2f})")
                elif "detections" in body:
                    parts.append(f"{name}=[{', '.join(_object(d) for d in body['detections'])}]")
            seq = m.get("sequence")
            if seq:
                parts.append(f"{seq['model']}={seq['label']}({seq['score']:.2f})")
            parts.append(f"latency={m['latency_s'] * 1000:.0f}ms")
            line = "  ".join(parts)
        out.write(line.rstrip() + "\n")
        out.flush()

    return write

"""Shared pieces of the robustness tests: tiny models, configs, a running daemon, a subscriber, metrics.

The tests run ``python -m streamer run`` as a real process on the tiny ``onnx.helper`` models, read
its results over ZeroMQ in a background thread, and scrape its ``/metrics``.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import zmq
from prometheus_client.parser import text_string_to_metric_families

from tests import tinymodels
from tests.support.procs import DaemonProcess, free_port, port_open, wait_until
from tests.systemd.daemon import toml_dumps

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def tiny_models(directory: Path) -> dict[str, dict[str, Any]]:
    """The ``[models]`` tables of a classifier (with embedding) feeding a one-step sequence model."""
    directory.mkdir(parents=True, exist_ok=True)
    cls = tinymodels.classifier(directory / "cls.onnx")
    seq = tinymodels.sequence(directory / "seq.onnx")
    return {"cls": {"path": str(cls)}, "seq": {"path": str(seq)}}


def file_stream(name: str, clip: Path, **extra: Any) -> dict[str, Any]:
    """A stream playing ``clip`` in a loop at its native rate, like a camera."""
    return {"name": name, "source": str(clip), "realtime": True, "loop": True, **extra}


@dataclass
class Ports:
    """A publish endpoint and a metrics listen address on 127.0.0.1, free a moment ago."""

    zmq_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.zmq_port}"

    @property
    def listen(self) -> str:
        return f"127.0.0.1:{self.http_port}"


def config_data(
    ports: Ports,
    models: Mapping[str, Any],
    streams: Sequence[Mapping[str, Any]],
    *,
    capture: Mapping[str, Any] | None = None,
    pipeline: Mapping[str, Any] | None = None,
    publish: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete config as a dict (write it with ``write_config``)."""
    return {
        "publish": {"endpoint": ports.endpoint, **(publish or {})},
        "metrics": {"listen": ports.listen},
        "pipeline": dict(pipeline or {}),
        "capture": dict(capture or {}),
        "models": {k: dict(v) for k, v in models.items()},
        "streams": [dict(s) for s in streams],
    }


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(toml_dumps(data))
    return path


def daemon_argv(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamer", "run", "--config", str(config), *extra]


# -- metrics ---------------------------------------------------------------------------------


def scrape_text(listen: str) -> str:
    with urllib.request.urlopen(f"http://{listen}/metrics", timeout=3) as response:
        text: str = response.read().decode("utf-8")
        return text


def parse_samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def scrape(listen: str) -> Samples:
    return parse_samples(scrape_text(listen))


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; NaN when the series does not exist."""
    return samples.get((name, tuple(sorted(labels.items()))), math.nan)


# -- subscriber ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    body: dict[str, Any]
    t_recv: float  # monotonic, in the test process
    raw: bytes


class Subscriber(threading.Thread):
    """A SUB socket on every topic in its own thread, keeping every message with its arrival time."""

    def __init__(
        self,
        endpoint: str,
        *,
        configure: Callable[[zmq.Socket[bytes]], None] | None = None,
        decode: bool = True,
    ) -> None:
        super().__init__(name="test-subscriber", daemon=True)
        self.endpoint = endpoint
        self.decode = decode  # False: results keep only topic and raw payload (cheap for big volumes)
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._sock: zmq.Socket[bytes] = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 100_000)
        self._sock.setsockopt(zmq.RECONNECT_IVL, 10)
        if configure is not None:
            configure(self._sock)
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        self._sock.connect(endpoint)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self.bad: list[bytes] = []  # payloads that were not JSON (must stay empty)

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        try:
            while not self._halt.is_set():
                if not poller.poll(100):
                    continue
                while True:
                    try:
                        parts = self._sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    now = time.monotonic()
                    try:
                        body = json.loads(parts[1]) if self.decode or parts[0] == b"_status" else {}
                    except (ValueError, IndexError):
                        self.bad.append(b"|".join(parts))
                        continue
                    with self._lock:
                        self._messages.append(Message(parts[0].decode(), body, now, parts[1]))
        finally:
            self._sock.close(linger=0)
            self._ctx.term()

    def close(self) -> None:
        self._halt.set()
        self.join(5)

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def results(self, stream: str, since: float = 0.0) -> list[Message]:
        return [m for m in self.messages() if m.topic == stream and m.t_recv >= since]

    def statuses(self, event: str | None = None, stream: str | None = None, since: float = 0.0) -> list[Message]:
        return [
            m
            for m in self.messages()
            if m.topic == "_status"
            and m.t_recv >= since
            and (event is None or m.body["event"] == event)
            and (stream is None or m.body.get("stream") == stream)
        ]

    def state_changes(self, stream: str, state: str, since: float = 0.0) -> list[Message]:
        return [m for m in self.statuses("stream_state", stream, since) if m.body.get("state") == state]


# -- a running daemon ------------------------------------------------------------------------


@dataclass
class Running:
    """A started daemon, its ports and a subscriber already receiving."""

    proc: DaemonProcess
    ports: Ports
    sub: Subscriber
    config_path: Path

    def scrape(self) -> Samples:
        return scrape(self.ports.listen)

    def metric(self, name: str, **labels: str) -> float:
        return value(self.scrape(), name, **labels)

    def alive(self) -> bool:
        return self.proc.running()

    def logs(self) -> str:
        return self.proc.stderr_text() + self.proc.stdout_text()


DaemonStarter = Callable[..., DaemonProcess]


def start_daemon(
    start: DaemonStarter,
    config_path: Path,
    ports: Ports,
    *,
    env: Mapping[str, str] | None = None,
    wait_streams: Iterable[str] = (),
    timeout: float = 20.0,
) -> Running:
    """Start ``streamer run``, subscribe, and wait until each of ``wait_streams`` has published."""
    # Connected before the daemon binds (ZeroMQ retries), so early status events are seen.
    sub = Subscriber(ports.endpoint)
    sub.start()
    proc = start(daemon_argv(config_path), env=dict(env or {}))
    try:
        wait_until(lambda: proc.running() and port_open("127.0.0.1", ports.http_port), timeout, 0.1, "metrics port")
    except TimeoutError:
        sub.close()
        raise AssertionError(f"daemon did not come up:\n{proc.stderr_text()[-3000:]}") from None
    running = Running(proc, ports, sub, config_path)
    for stream in wait_streams:
        try:
            wait_until(partial(sub.results, stream), timeout, 0.1, f"first result of {stream}")
        except TimeoutError:
            sub.close()
            raise AssertionError(f"no result of {stream} in {timeout} s:\n{proc.stderr_text()[-3000:]}") from None
    return running


def rate(running: Running, streams: Sequence[str], seconds: float) -> dict[str, float]:
    """Frames processed per second of each stream over the next ``seconds``, from the daemon's counters."""
    before = running.scrape()
    t0 = time.monotonic()
    time.sleep(seconds)
    after = running.scrape()
    dt = time.monotonic() - t0
    name = "streamer_frames_processed_total"
    return {s: (value(after, name, stream=s) - value(before, name, stream=s)) / dt for s in streams}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def report(title: str, **figures: object) -> None:
    """Print measured figures (visible with ``pytest -s``; also kept in the captured output of a failure)."""
    items = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    print(f"[figures] {title}: {items}", flush=True)

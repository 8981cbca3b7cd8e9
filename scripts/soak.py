#!/usr/bin/env python3
"""Soak test: N realtime streams through a real ``streamer run`` for M minutes; prints the figures.

    .venv/bin/python scripts/soak.py --minutes 30            # the full run (outside CI)
    .venv/bin/python scripts/soak.py --minutes 2 --warmup 30 --json

Every stream plays a 10 s 320x240 H.264 clip in a loop at 25 fps through the tiny test models
(classifier + sequence). Every ``--interval`` seconds it samples the daemon's RSS, open fds,
threads, frames processed, and the p99 of the capture-to-publish latency of the results received
in that window. After ``--warmup`` it checks: RSS growth < ``--max-rss-growth-mb``, no fd or
thread growth, p99 latency of the last window within 2x (+10 ms) of the first. Exit 0 when every
check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import zmq  # noqa: E402

from tests.integration.robust_rig import (  # noqa: E402
    Ports,
    config_data,
    daemon_argv,
    file_stream,
    percentile,
    scrape,
    tiny_models,
    value,
    write_config,
)
from tests.support.media import make_h264_clip  # noqa: E402
from tests.support.procs import DaemonProcess, port_open, process_fds, process_threads, rss_bytes, wait_until  # noqa: E402


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    fds: int
    threads: int
    processed: float
    fps: float
    p99_ms: float
    p50_ms: float
    results: int


@dataclass
class Figures:
    minutes: float
    streams: int
    warmup_s: float
    samples: list[Sample] = field(default_factory=list)
    rss_growth_mb: float = 0.0
    fd_growth: int = 0
    thread_growth: int = 0
    p99_first_ms: float = 0.0
    p99_last_ms: float = 0.0
    p99_max_ms: float = 0.0
    mean_fps: float = 0.0
    daemon_alive: bool = True
    failures: list[str] = field(default_factory=list)


class LatencyTap(threading.Thread):
    """Subscribes to every result and keeps only the latencies of the current window."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(name="latency-tap", daemon=True)
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        self._sock.setsockopt(zmq.RCVHWM, 100_000)
        self._sock.connect(endpoint)
        self._lock = threading.Lock()
        self._window: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                if not self._sock.poll(200):
                    continue
                topic, payload = self._sock.recv_multipart()
                if topic == b"_status":
                    continue
                latency = float(json.loads(payload)["latency_s"])
                with self._lock:
                    self._window.append(latency)
        finally:
            self._sock.close(linger=0)
            self._ctx.term()

    def take(self) -> list[float]:
        with self._lock:
            window, self._window = self._window, []
        return window

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def soak(minutes: float, streams: int, warmup_s: float, interval_s: float, max_rss_growth_mb: float) -> Figures:
    work = Path(tempfile.mkdtemp(prefix="streamer-soak-"))
    clip = make_h264_clip(work / "clip.mp4", 10, 25, (320, 240), "testsrc2")
    models = tiny_models(work / "models")
    ports = Ports()
    data = config_data(ports, models, [file_stream(f"cam{i}", clip) for i in range(streams)])
    path = write_config(work / "soak.toml", data)
    figures = Figures(minutes, streams, warmup_s)
    tap = LatencyTap(ports.endpoint)
    tap.start()
    daemon = DaemonProcess(daemon_argv(path), log_dir=work / "daemon", env={"STREAMER_LOG_LEVEL": "WARNING"})
    daemon.start()
    try:
        wait_until(lambda: port_open("127.0.0.1", ports.http_port), 30, 0.1, "metrics port")
        t0 = time.monotonic()
        end = t0 + minutes * 60
        last_t, last_processed = t0, 0.0
        tap.take()
        while time.monotonic() < end and daemon.running():
            time.sleep(max(0.0, min(interval_s, end - time.monotonic())))
            now = time.monotonic()
            pid = daemon.pid
            # Counted before the scrape: answering /metrics takes a thread and a socket for a moment.
            rss, fds, threads = rss_bytes(pid), len(process_fds(pid)), process_threads(pid)
            samples = scrape(ports.listen)
            processed = sum(value(samples, "streamer_frames_processed_total", stream=f"cam{i}") for i in range(streams))
            window = tap.take()
            sample = Sample(
                t_s=round(now - t0, 1),
                rss_mb=round(rss / 1e6, 2),
                fds=fds,
                threads=threads,
                processed=processed,
                fps=round((processed - last_processed) / (now - last_t), 1),
                p99_ms=round(percentile(window, 0.99) * 1000, 2),
                p50_ms=round(percentile(window, 0.5) * 1000, 2),
                results=len(window),
            )
            last_t, last_processed = now, processed
            figures.samples.append(sample)
            print(json.dumps(asdict(sample)), file=sys.stderr, flush=True)
        figures.daemon_alive = daemon.running()
    finally:
        tap.stop()
        daemon.stop()
    evaluate(figures, max_rss_growth_mb)
    return figures


def evaluate(f: Figures, max_rss_growth_mb: float) -> None:
    """Fill in the derived figures and the failed checks."""
    steady = [s for s in f.samples if s.t_s >= f.warmup_s]
    if len(steady) < 4:
        f.failures.append(f"only {len(steady)} samples after warm-up")
        return
    head, tail = steady[:3], steady[-3:]
    f.rss_growth_mb = round(statistics.mean(s.rss_mb for s in tail) - statistics.mean(s.rss_mb for s in head), 2)
    f.fd_growth = max(s.fds for s in steady) - steady[0].fds
    f.thread_growth = max(s.threads for s in steady) - steady[0].threads
    f.p99_first_ms = steady[0].p99_ms
    f.p99_last_ms = steady[-1].p99_ms
    f.p99_max_ms = max(s.p99_ms for s in steady)
    f.mean_fps = round(statistics.mean(s.fps for s in steady), 1)
    if not f.daemon_alive:
        f.failures.append("the daemon died")
    if f.rss_growth_mb >= max_rss_growth_mb:
        f.failures.append(f"RSS grew {f.rss_growth_mb} MB after warm-up (limit {max_rss_growth_mb})")
    if f.fd_growth > 0:
        f.failures.append(f"open fds grew by {f.fd_growth}")
    if f.thread_growth > 0:
        f.failures.append(f"threads grew by {f.thread_growth}")
    # Stable latency: the last window's p99 is not drifting away from the first's.
    if f.p99_last_ms > 2 * f.p99_first_ms + 10:
        f.failures.append(f"p99 latency {f.p99_first_ms} ms -> {f.p99_last_ms} ms")
    if any(s.results == 0 for s in steady):
        f.failures.append("a window without results")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before the checks start (default 120)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    figures = soak(args.minutes, args.streams, args.warmup, args.interval, args.max_rss_growth_mb)
    if args.json:
        print(json.dumps(asdict(figures)))
    else:
        print(f"soak: {figures.streams} streams, {figures.minutes:g} min, warm-up {figures.warmup_s:g} s")
        print(f"  mean throughput      {figures.mean_fps} frames/s")
        print(f"  RSS growth           {figures.rss_growth_mb} MB (after warm-up)")
        print(f"  fd / thread growth   {figures.fd_growth} / {figures.thread_growth}")
        print(f"  p99 latency          first {figures.p99_first_ms} ms, last {figures.p99_last_ms} ms, "
              f"max {figures.p99_max_ms} ms")  # fmt: skip
        print("  result:              " + ("ok" if not figures.failures else "; ".join(figures.failures)))
    return 0 if not figures.failures else 1


if __name__ == "__main__":
    sys.exit(main())

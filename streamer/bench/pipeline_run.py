"""The whole daemon pipeline (capture threads, batcher, inference, publisher) on N copies of a clip."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq

from streamer.bench.records import PipelinePoint
from streamer.config import Config, PublishConfig, StreamConfig
from streamer.metrics import Metrics
from streamer.modelset import ModelSet
from streamer.pipeline import Pipeline
from streamer.publish import Publisher
from streamer.records import DropReason


@dataclass
class Recorder:
    """Publish events: when each result went out and how old its frame was."""

    t0: float = field(default_factory=time.monotonic)
    published: list[tuple[float, float, str]] = field(default_factory=list)  # (t since t0, latency, stream)
    drops: int = 0
    # (wall time received, stream, seq, t_capture) per message, when subscribed
    messages: list[tuple[float, str, int, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_published(self, stream: str, latency_s: float) -> None:
        self.published.append((time.monotonic() - self.t0, latency_s, stream))

    def on_dropped(self, stream: str, reason: DropReason) -> None:
        with self._lock:
            self.drops += 1


class _Events:
    """Routes publisher events to the recorder and the pipeline's metrics."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pipeline: Pipeline | None = None

    def published(self, stream: str, latency_s: float) -> None:
        self.recorder.on_published(stream, latency_s)
        if self.pipeline is not None:
            self.pipeline.published(stream, latency_s)

    def dropped(self, stream: str, reason: DropReason) -> None:
        self.recorder.on_dropped(stream, reason)
        if self.pipeline is not None:
            self.pipeline.dropped(stream, reason)


@dataclass(frozen=True)
class RunSpec:
    """How to run the pipeline for one measurement."""

    clip: str
    streams: int
    seconds: float
    warmup_s: float = 1.0
    realtime: bool = False
    subscribe: bool = False  # also receive every message on a SUB socket (Recorder.messages)


def bench_config(config: Config, clip: str, streams: int, realtime: bool) -> Config:
    """``config`` with ``streams`` looping copies of ``clip`` and a private in-process endpoint."""
    cams = [StreamConfig(name=f"bench{i}", source=clip, realtime=realtime, loop=True) for i in range(streams)]
    publish = PublishConfig(endpoint=f"inproc://bench-{uuid.uuid4().hex}", queue_size=config.publish.queue_size)
    return config.model_copy(update={"streams": cams, "publish": publish})


def _subscribe(endpoint: str, recorder: Recorder, stop: threading.Event) -> threading.Thread:
    """A subscriber in this process (same context, so ``inproc`` works) recording what arrives."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVTIMEO, 200)
    sock.connect(endpoint)

    def loop() -> None:
        try:
            while not stop.is_set():
                try:
                    _topic, payload = sock.recv_multipart()
                except zmq.Again:
                    continue
                now = time.time()
                msg = json.loads(payload)
                if msg.get("type") == "result":
                    recorder.messages.append((now, msg["stream"], msg["seq"], msg["t_capture"]))
        finally:
            sock.close(linger=0)

    thread = threading.Thread(target=loop, name="bench-sub", daemon=True)
    thread.start()
    return thread


def _drops(metrics: Metrics) -> int:
    total = 0.0
    for family in metrics.registry.collect():
        if family.name == "streamer_frames_dropped":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


def _cpu_seconds() -> float:
    """CPU time of this process and its live children (the capture processes)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _histogram_mean(metrics: Metrics, name: str) -> float:
    """Mean of every observation of a histogram family, all labels together (0 with none)."""
    sums = counts = 0.0
    for family in metrics.registry.collect():
        if family.name == name:
            for s in family.samples:
                if s.name.endswith("_sum"):
                    sums += s.value
                elif s.name.endswith("_count"):
                    counts += s.value
    return sums / counts if counts else 0.0


def run(config: Config, models: ModelSet, spec: RunSpec) -> tuple[PipelinePoint, Recorder]:
    """Run the pipeline; figures cover the ``seconds`` after ``warmup_s``. Also returns the raw events."""
    cfg = bench_config(config, spec.clip, spec.streams, spec.realtime)
    recorder = Recorder()
    events = _Events(recorder)
    metrics = Metrics(process=False)
    publisher = Publisher(cfg.publish, Path(cfg.base_dir), events)
    publisher.start()
    sub_stop = threading.Event()
    sub = _subscribe(publisher.endpoint, recorder, sub_stop) if spec.subscribe else None
    pipeline = Pipeline(cfg, models, metrics, publisher)
    events.pipeline = pipeline
    try:
        pipeline.start()
        time.sleep(spec.warmup_s)
        t_start = time.monotonic() - recorder.t0
        n_start = len(recorder.published)
        drops_start = _drops(metrics)
        cpu_start = _cpu_seconds()
        time.sleep(spec.seconds)
        t_end = time.monotonic() - recorder.t0
        n_end = len(recorder.published)
        cpu = _cpu_seconds() - cpu_start
        drops = _drops(metrics) - drops_start
    finally:
        pipeline.stop()
        publisher.close()
        sub_stop.set()
        if sub is not None:
            sub.join(2)
    window = [lat for t, lat, _ in recorder.published[n_start:n_end]]
    p50, p99 = (np.percentile(window, [50, 99]) * 1000.0).tolist() if window else (0.0, 0.0)
    wall = t_end - t_start
    point = PipelinePoint(
        streams=spec.streams,
        fps=round((n_end - n_start) / wall, 1),
        latency_p50_ms=round(p50, 2),
        latency_p99_ms=round(p99, 2),
        mean_batch=round(_histogram_mean(metrics, "streamer_batch_size"), 2),
        model_ms=round(_histogram_mean(metrics, "streamer_inference_seconds") * 1000.0, 3),
        dropped=drops,
        cpu_percent=round(100.0 * cpu / wall, 1),
    )
    return point, recorder

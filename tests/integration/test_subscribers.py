"""Subscribers cannot slow the daemon down or make it grow: none, a slow one, and 100 that come and go.

A ZeroMQ PUB socket keeps a queue per subscriber bounded by the send HWM and drops past it for that
subscriber alone. The daemon cannot see those drops (libzmq does not report them); the subscriber
sees them as gaps in ``seq``, and that is what the slow subscriber here measures.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from onnx import TensorProto, helper, numpy_helper

from streamer.modelspec import InputSpec, ModelSpec
from tests import tinymodels
from tests.integration.robust_rig import (
    Ports,
    Running,
    Subscriber,
    config_data,
    file_stream,
    rate,
    report,
    start_daemon,
    tiny_models,
    value,
    write_config,
)
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import process_fds, process_threads, rss_bytes, wait_until

pytestmark = pytest.mark.integration

STREAMS = ("s0", "s1", "s2", "s3")
EMBEDDING = 1024  # floats published per message: about 10 kB of JSON, so a backlog would show in RSS
SEND_HWM = 100
SLOW_SECONDS = 15
# Bytes of RSS growth allowed while the slow subscriber lags: above its HWM queue (100 x 10 kB) and
# the noise of a warm daemon (+-1 MB), well below the ~15 MB sent to it meanwhile (of which the
# kernel's socket buffers can hold 4 MB; libzmq would have to keep the rest without the HWM).
MAX_GROWTH = 5e6
MIN_RATE_SHARE = 0.95
CHURN_SECONDS = 10.0


def wide_classifier(path: Path, width: int = EMBEDDING) -> Path:
    """The tiny classifier, with an embedding ``width`` floats wide (published with each result)."""
    rng = np.random.default_rng(0)
    w_cls = np.eye(3, dtype=np.float32) * 10.0
    w_emb = rng.normal(0, 1, (3, width)).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["pooled", "Wc"], ["logits"]),
        helper.make_node("MatMul", ["pooled", "We"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "wide",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", width]),
        ],
        initializer=[numpy_helper.from_array(w_cls, "Wc"), numpy_helper.from_array(w_emb, "We")],
    )
    spec = ModelSpec(
        kind="classifier",
        labels=("red", "green", "blue"),
        input=InputSpec(name="image", height=32, width=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        outputs={"logits": "logits", "embedding": "embedding"},
        producer="tests",
    )
    return tinymodels._save(graph, spec, path)


def seq_gaps(msgs: list[dict[str, Any]]) -> int:
    """Messages a subscriber missed, from the gaps in ``seq``."""
    seqs = [m["seq"] for m in msgs]
    return sum(b - a - 1 for a, b in itertools.pairwise(seqs))


def test_no_subscriber_and_a_slow_one(tmp_path: Path, clips: Clips, daemon_process: DaemonFactory) -> None:
    models = {"wide": {"path": str(wide_classifier(tmp_path / "wide.onnx")), "publish_embedding": True}}
    ports = Ports()
    streams = [file_stream(s, clips.h264_long) for s in STREAMS]
    publish = {"send_hwm": SEND_HWM}
    path = write_config(tmp_path / "subs.toml", config_data(ports, models, streams, publish=publish))
    running = start_daemon(daemon_process, path, ports, wait_streams=STREAMS)
    pid = running.proc.pid
    running.sub.close()  # from here on nobody listens

    # 1. No subscriber at all: publishing costs nothing and nothing piles up.
    time.sleep(8.0)  # warm-up: allocator arenas and buffers reach their working size (measured: ~10 s)
    rss_idle0 = rss_bytes(pid)
    rates_none = rate(running, STREAMS, 5.0)
    rss_idle1 = rss_bytes(pid)

    # 2. A normal subscriber, then a slow one beside it reading one message a second.
    fast = Subscriber(ports.endpoint, decode=False)
    fast.start()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    slow = ctx.socket(zmq.SUB)
    slow.setsockopt(zmq.RCVHWM, 10)
    slow.setsockopt(zmq.RCVBUF, 64 * 1024)  # no 32 MB autotuned kernel buffer hiding the backlog
    slow.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        wait_until(lambda: fast.results("s0"), 5, 0.05, "fast subscriber receiving")
        time.sleep(2.0)
        slow.connect(ports.endpoint)
        before = running.scrape()
        wall0 = time.time()
        t0 = time.monotonic()
        rss0 = rss_bytes(pid)
        slow_msgs: list[dict[str, Any]] = []
        rss_peak = rss0
        for i in range(SLOW_SECONDS):
            if slow.poll(1000):
                slow_msgs.append(_decode(slow.recv_multipart()))
            time.sleep(max(0.0, t0 + i + 1 - time.monotonic()))
            rss_peak = max(rss_peak, rss_bytes(pid))
        wall_end = time.time()
        after = running.scrape()
        t1 = time.monotonic()
        wall1 = time.time()
        # The window is judged by capture time, not arrival time: on a busy machine the fast
        # subscriber's thread may still be reading the window's last messages when it closes.
        wait_until(
            lambda: any(_decode([b"", m.raw])["t_capture"] > wall1 for m in fast.results("s0")[-3:]),
            10,
            0.05,
            "fast subscriber caught up",
        )
        # What the slow one gets when it finally reads fast: what the kernel's socket buffers and
        # its HWM queue in the daemon held, then fresh results (never the whole backlog).
        backlog = 0
        fresh: set[str] = set()
        while fresh != set(STREAMS) and slow.poll(2000):
            msg = _decode(slow.recv_multipart())
            if msg["type"] != "result":
                continue
            slow_msgs.append(msg)
            if msg["t_capture"] >= wall1:
                fresh.add(msg["stream"])
            else:
                backlog += 1
    finally:
        slow.close(linger=0)
        ctx.term()
        fast.close()

    def delta(name: str, stream: str) -> float:
        return value(after, name, stream=stream) - value(before, name, stream=stream)

    dt = t1 - t0
    rates_slow = {s: delta("streamer_frames_processed_total", s) / dt for s in STREAMS}
    published = sum(delta("streamer_messages_published_total", s) for s in STREAMS)
    msg_bytes = len(fast.results("s0")[-1].raw)
    fast_in_window = sum(
        1 for m in fast.messages() if m.topic != "_status" and wall0 <= _decode([b"", m.raw])["t_capture"] <= wall_end
    )
    share = {s: rates_slow[s] / rates_none[s] for s in STREAMS}
    report(
        "subscribers: none, then slow + fast",
        fps_none={s: round(v, 2) for s, v in rates_none.items()},
        fps_slow={s: round(v, 2) for s, v in rates_slow.items()},
        min_share=min(share.values()),
        message_bytes=msg_bytes,
        published=int(published),
        sent_to_slow_mb=published * msg_bytes / 1e6,
        fast_received=fast_in_window,
        slow_received=len(slow_msgs),
        slow_backlog=backlog,
        slow_missed_by_seq_gaps=sum(seq_gaps([m for m in slow_msgs if m["stream"] == s]) for s in STREAMS),
        rss_idle_growth_mb=(rss_idle1 - rss_idle0) / 1e6,
        rss_slow_growth_mb=(rss_peak - rss0) / 1e6,
    )
    assert running.alive()
    assert min(share.values()) >= MIN_RATE_SHARE, share
    assert rss_idle1 - rss_idle0 < 3e6
    # Memory: the slow subscriber costs its HWM queue (100 messages, ~2 MB), never what was sent.
    assert published * msg_bytes > 2.5 * MAX_GROWTH
    assert rss_peak - rss0 < MAX_GROWTH, (rss0, rss_peak)
    # The slow subscriber lost most messages, seen as gaps in seq ...
    assert len(slow_msgs) < published / 2
    missed = sum(seq_gaps([m for m in slow_msgs if m["stream"] == s]) for s in STREAMS)
    assert missed > published / 2
    # ... while the normal subscriber beside it got every one, and the daemon dropped none.
    assert fast_in_window >= published - 2 * len(STREAMS)
    for s in STREAMS:
        assert value(after, "streamer_frames_dropped_total", stream=s, reason="publish") == 0


def _decode(parts: list[bytes]) -> dict[str, Any]:
    import json

    body: dict[str, Any] = json.loads(parts[1])
    return body


def churn(endpoint: str, seconds: float, count: int) -> list[float]:
    """For ``seconds``: connect ``count`` subscribers, wait until each has a message, close them all."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    rounds: list[float] = []
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            t0 = time.monotonic()
            socks = []
            for _ in range(count):
                sock = ctx.socket(zmq.SUB)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.SUBSCRIBE, b"")
                sock.connect(endpoint)
                socks.append(sock)
            pending = set(range(count))
            deadline = time.monotonic() + 10
            while pending and time.monotonic() < deadline:
                for i in list(pending):
                    if socks[i].poll(0):
                        socks[i].recv_multipart()
                        pending.discard(i)
                time.sleep(0.02)
            for sock in socks:
                sock.close(linger=0)
            assert not pending, f"{len(pending)} of {count} subscribers got nothing"
            rounds.append(time.monotonic() - t0)
    finally:
        ctx.term()
    return rounds


def test_hundred_subscribers_come_and_go(tmp_path: Path, clips: Clips, daemon_process: DaemonFactory) -> None:
    models = tiny_models(tmp_path / "models")
    ports = Ports()
    streams = [file_stream(s, clips.h264_long) for s in STREAMS]
    path = write_config(tmp_path / "churn.toml", config_data(ports, models, streams))
    running: Running = start_daemon(daemon_process, path, ports, wait_streams=STREAMS)
    try:
        pid = running.proc.pid
        time.sleep(1.0)
        threads0, fds0 = process_threads(pid), len(process_fds(pid))
        rates0 = rate(running, STREAMS, 4.0)
        before = running.scrape()
        wall0 = time.time()
        t0 = time.monotonic()
        rounds = churn(ports.endpoint, CHURN_SECONDS, 100)
        wall_end = time.time()
        after = running.scrape()
        t1 = time.monotonic()
        # Counted by capture time (see test_no_subscriber_and_a_slow_one), once the reader caught up.
        wall1 = time.time()
        wait_until(
            lambda: any(m.body["t_capture"] > wall1 for m in running.sub.results(STREAMS[0])[-3:]),
            10,
            0.05,
            "steady subscriber caught up",
        )
        dt = t1 - t0
        name = "streamer_frames_processed_total"
        rates1 = {s: (value(after, name, stream=s) - value(before, name, stream=s)) / dt for s in STREAMS}
        share = {s: rates1[s] / rates0[s] for s in STREAMS}
        fds_back = wait_until(lambda: len(process_fds(pid)) <= fds0 and len(process_fds(pid)), 10, 0.1, "fds")
        threads_back = wait_until(lambda: process_threads(pid) <= threads0 and process_threads(pid), 10, 0.1, "thr")
        published = sum(
            value(after, "streamer_messages_published_total", stream=s)
            - value(before, "streamer_messages_published_total", stream=s)
            for s in STREAMS
        )
        steady = sum(
            1 for m in running.sub.messages() if m.topic in STREAMS and wall0 <= m.body["t_capture"] <= wall_end
        )
        report(
            "subscribers: 100 connect, receive, disconnect, in a loop",
            rounds=len(rounds),
            round_max_s=max(rounds),
            fps_before={s: round(v, 2) for s, v in rates0.items()},
            fps_during={s: round(v, 2) for s, v in rates1.items()},
            min_share=min(share.values()),
            fds=f"{fds0}->{fds_back}",
            threads=f"{threads0}->{threads_back}",
            published=int(published),
            steady_subscriber_received=steady,
        )
        assert running.alive()
        assert min(share.values()) >= MIN_RATE_SHARE, share
        # A subscriber that stays connected through the churn misses nothing.
        assert steady >= published - 2 * len(STREAMS)
    finally:
        running.sub.close()

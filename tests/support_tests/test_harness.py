"""The harness against real parts: GStreamer RTSP server read by OpenCV, Prometheus scraping an exporter."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests.support.fixtures import PrometheusFactory, RtspServerFactory
from tests.support.media import Clips
from tests.support.procs import process_fds, wait_until
from tests.support.rtsp import RtspServer

pytestmark = pytest.mark.integration

CLIP_FRAMES = Clips.H264_FRAMES  # the served clip loops every 50 frames (2 s)


def open_capture(url: str) -> cv2.VideoCapture:
    """Open with OpenCV's FFmpeg backend (options come from OPENCV_FFMPEG_CAPTURE_OPTIONS)."""
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG)


@pytest.fixture
def server(rtsp_server: RtspServerFactory, fast_rtsp_capture: str) -> RtspServer:
    """One RTSP server serving the 2 s clip at /cam0, with fast capture options set."""
    return rtsp_server()


def read_frames(cap: cv2.VideoCapture, count: int) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (monotonic time, frame) for ``count`` frames; fails the test on a failed read."""
    for index in range(count):
        ok, frame = cap.read()
        assert ok, f"read {index} of {count} failed"
        yield time.monotonic(), frame


def read_until_failure(cap: cv2.VideoCapture, timeout: float) -> tuple[int, float]:
    """Read until ``read()`` fails; returns (frames read, seconds taken). Fails after ``timeout``."""
    start = time.monotonic()
    frames = 0
    while cap.read()[0]:
        frames += 1
        assert time.monotonic() - start < timeout, f"reads still succeed after {timeout} s"
    return frames, time.monotonic() - start


def test_rtsp_stream_loops_without_gap(server: RtspServer) -> None:
    count = CLIP_FRAMES + 30  # crosses the loop point: each client starts at the clip's first frame
    start = time.monotonic()
    cap = open_capture(server.url("/cam0"))
    try:
        stamped = list(read_frames(cap, count))
    finally:
        cap.release()
    times = [start] + [stamp for stamp, _ in stamped]
    frames = [frame for _, frame in stamped]
    first_frame = times[1] - start
    largest_gap = max(b - a for a, b in itertools.pairwise(times[1:]))
    assert frames[0].shape == (240, 320, 3)
    assert first_frame < 2.0, f"first frame after {first_frame:.2f} s"
    assert largest_gap < 0.5, f"a {largest_gap:.2f} s gap between frames"
    # Live pacing: 80 frames at 25 fps take about 3.2 s (minus what was buffered at open).
    assert times[-1] - times[1] > 2.0

    # The content repeats with the clip's period, and only then: it really looped.
    def diff(a: int, b: int) -> float:
        return float(np.mean(cv2.absdiff(frames[a], frames[b])))

    for k in range(30):
        assert diff(k, k + CLIP_FRAMES) < 1.0, f"frame {k} differs from frame {k + CLIP_FRAMES}"
        assert diff(k, k + CLIP_FRAMES // 2) > 1.0


def test_rtsp_survives_many_clients(server: RtspServer) -> None:
    first = open_capture(server.url())
    second = open_capture(server.url())
    try:
        assert len(list(read_frames(first, 5))) == 5
        assert len(list(read_frames(second, 5))) == 5
    finally:
        first.release()
        second.release()
    baseline_fds = len(process_fds(server.pid))
    for round_ in range(12):
        cap = open_capture(server.url())
        try:
            assert cap.read()[0], f"connection {round_} got no frame\n{server.log_text()}"
        finally:
            cap.release()
    assert server.running()
    # Sessions are torn down as clients leave: no descriptor leak per connection.
    wait_until(lambda: len(process_fds(server.pid)) <= baseline_fds + 2, timeout=5, what="server fds to settle")


def test_rtsp_kill_then_restart_allows_reconnect(server: RtspServer) -> None:
    cap = open_capture(server.url())
    try:
        list(read_frames(cap, 10))
        server.kill()
        buffered, took = read_until_failure(cap, timeout=5.0)
        assert took < 3.0, f"read() failed only after {took:.2f} s ({buffered} buffered frames)"
    finally:
        cap.release()
    port = server.port
    server.restart()
    assert server.port == port
    start = time.monotonic()
    cap = open_capture(server.url())
    try:
        assert cap.read()[0], server.log_text()
        assert time.monotonic() - start < 2.0
    finally:
        cap.release()


def test_rtsp_hung_server_fails_reads_and_opens_within_timeouts(server: RtspServer) -> None:
    # Each read() blocks at most the read timeout, but frames still inside the decoder come out
    # one per timed-out read first: with FFmpeg's frame threads (one per core) that is several
    # timeouts in a row, so the test pins one decoder thread to bound it to two.
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 3000,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000,
        cv2.CAP_PROP_N_THREADS, 1,
    ]  # fmt: skip
    cap = cv2.VideoCapture(server.url(), cv2.CAP_FFMPEG, params)
    try:
        list(read_frames(cap, 5))
        server.hang()
        start = time.monotonic()
        slowest = 0.0
        while True:
            before = time.monotonic()
            ok = cap.read()[0]
            slowest = max(slowest, time.monotonic() - before)
            if not ok or time.monotonic() - start > 10:
                break
        took = time.monotonic() - start
        assert not ok, "reads from a hung server kept succeeding"
        assert slowest < 3.0, f"one read() blocked {slowest:.2f} s"
        assert took < 6.0, f"read() failed only after {took:.2f} s"
        start = time.monotonic()
        reopened = cv2.VideoCapture(server.url(), cv2.CAP_FFMPEG, params)
        try:
            assert not reopened.read()[0]
        finally:
            reopened.release()
        assert time.monotonic() - start < 5.0, "open() of a hung server was not bounded"
    finally:
        server.resume()
        cap.release()
    cap = open_capture(server.url())  # alive again after SIGCONT
    try:
        assert cap.read()[0], server.log_text()
    finally:
        cap.release()


def test_rtsp_basic_auth(rtsp_server: RtspServerFactory, fast_rtsp_capture: str) -> None:
    server = rtsp_server(user="camera", password="pa:ss@word")
    assert "pa%3Ass%40word@" in server.url()
    assert "word" not in server.url(credentials=False)
    anonymous = open_capture(server.url(credentials=False))
    try:
        assert not anonymous.read()[0]
    finally:
        anonymous.release()
    start = time.monotonic()
    cap = open_capture(server.url())
    try:
        opened = cap.isOpened()
        assert cap.read()[0], f"opened={opened} after {time.monotonic() - start:.2f} s\n{server.log_text()}"
    finally:
        cap.release()


def test_rtsp_serves_several_paths(rtsp_server: RtspServerFactory, fast_rtsp_capture: str, clips: Clips) -> None:
    server = rtsp_server({"/front": clips.h264, "/back": clips.h264_long})
    for path in ("/front", "/back"):
        cap = open_capture(server.url(path))
        try:
            assert cap.read()[0], path
        finally:
            cap.release()
    missing = open_capture(server.url("/nowhere"))
    try:
        assert not missing.read()[0]
    finally:
        missing.release()


def test_prometheus_scrapes_an_exporter(prometheus_server: PrometheusFactory, free_port: int) -> None:
    registry = CollectorRegistry()
    Counter("harness_frames", "Frames seen by the harness test.", ["stream"], registry=registry).labels("cam0").inc(7)
    up = Gauge("harness_stream_up", "Whether the stream is up.", registry=registry)
    up.set(1)
    exporter, thread = start_http_server(free_port, addr="127.0.0.1", registry=registry)
    try:
        prometheus = prometheus_server([f"127.0.0.1:{free_port}"])
        result = prometheus.wait_for('harness_frames_total{stream="cam0"}', timeout=20)
        assert result[0]["value"][1] == "7"
        assert prometheus.query('up{job="streamer"}')[0]["value"][1] == "1"
        assert prometheus.query("harness_nothing_total") == []
    finally:
        exporter.shutdown()
        exporter.server_close()
        thread.join(5)

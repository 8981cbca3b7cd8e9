"""Capture policies: backoff bounds, and a file played like a camera keeping its rate across loops."""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from streamer.capture import CaptureWorker
from streamer.capture_policy import Pacer, backoff_delay
from streamer.config import CaptureConfig, StreamConfig
from streamer.records import Frame, StreamState
from streamer.sources import Source, SourceKind
from tests.support.media import make_mp4v_clip


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt, nominal in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (50, 10.0)]:
        delays = [backoff_delay(attempt, 0.5, 10.0, rng) for _ in range(200)]
        assert all(nominal / 2 <= d <= nominal for d in delays)
        assert max(delays) - min(delays) > nominal / 4  # jittered, so restarts do not synchronise


def test_pacer_spaces_frames_by_the_native_interval() -> None:
    pacer = Pacer(25.0)
    assert pacer.wait(100.0) == 0.0
    pacer.advance()
    assert pacer.wait(100.01) == pytest.approx(0.03)
    pacer.advance()
    assert pacer.wait(100.02) == pytest.approx(0.06)


def test_pacer_makes_up_the_time_a_reopen_took() -> None:
    """After a 100 ms pause (reopening a looping file) the next frames are due at once until the
    schedule is met again, so the stream still delivers 25 frames per second overall."""
    pacer = Pacer(25.0)
    now, frames = 0.0, 0
    while now < 10.0:
        if frames and frames % 50 == 0:
            now += 0.1  # the file loops every 2 s; reopening takes 100 ms
        now += max(0.0, pacer.wait(now))
        pacer.advance()
        frames += 1
        now += 0.001  # decoding
    assert frames == pytest.approx(250, abs=1)


def test_pacer_restarts_its_schedule_after_a_long_stall() -> None:
    pacer = Pacer(25.0)
    pacer.wait(0.0)
    pacer.advance()
    assert pacer.wait(2.0) == 0.0  # starved for 2 s: no burst of 50 frames to catch up
    pacer.advance()
    assert pacer.wait(2.0) == pytest.approx(0.04)


class Collector:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.states: list[StreamState] = []

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)

    def state(self, stream: str, state: StreamState, detail: str) -> None:
        self.states.append(state)

    def captured(self, stream: str) -> None: ...
    def dropped(self, stream: str, reason: str) -> None: ...
    def reconnected(self, stream: str) -> None: ...


def play(clip: Path, realtime: bool = True) -> tuple[CaptureWorker, Collector]:
    cfg = StreamConfig(name="loop", source=str(clip), realtime=realtime, loop=True)
    sink = Collector()
    worker = CaptureWorker(cfg, Source(SourceKind.FILE, str(clip), str(clip)), CaptureConfig(), sink, sink)
    worker.start()
    return worker, sink


class LogicalWorker(CaptureWorker):
    """A capture worker on logical time: waiting advances the clock at once; decoding takes none."""

    def __init__(self, *args: Any, until: float) -> None:
        self.now = 1000.0  # before the worker's own set-up reads the clock
        self.until = until
        super().__init__(*args)

    def clock(self) -> float:
        return self.now

    def _sleep(self, seconds: float) -> bool:
        self.now += max(0.0, seconds)
        if self.now >= self.until:
            self.stop_event.set()
        return self.stop_event.is_set()


def test_a_looping_realtime_file_keeps_its_native_rate(tmp_path: Path) -> None:
    """A 10-frame clip at 25 fps loops every 0.4 s; over 3 s the stream still delivers 25 frames/s."""
    clip = make_mp4v_clip(tmp_path / "short.mp4", 10, 25.0)
    cfg = StreamConfig(name="loop", source=str(clip), realtime=True, loop=True)
    sink = Collector()
    worker = LogicalWorker(
        cfg, Source(SourceKind.FILE, str(clip), str(clip)), CaptureConfig(), sink, sink, until=1003.5
    )
    worker.run()  # on this thread: it returns once logical time passes ``until``
    assert sink.frames, f"no frames; states {sink.states}"
    t0 = sink.frames[0].info.t_capture_mono
    # Frames are due at t0 + k * 40 ms; the window ends half an interval before 3 s (no float ties).
    in_window = [f for f in sink.frames if f.info.t_capture_mono - t0 < 3.0 - 0.02]
    assert len(in_window) == 75  # across seven reopens of the file
    assert len({f.info.epoch for f in in_window}) == 8


def test_a_file_read_faster_than_real_time_stamps_frames_with_their_time_in_it(tmp_path: Path) -> None:
    """Whatever the machine's pace, a 25 fps file's frames are 40 ms apart on its timeline, across loops."""
    clip = make_mp4v_clip(tmp_path / "short.mp4", 10, 25.0)
    worker, sink = play(clip, realtime=False)
    try:
        deadline = time.monotonic() + 5.0
        while len({f.info.epoch for f in sink.frames}) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        worker.join(3.0)
    frames = [f.info for f in sink.frames]
    assert len({i.epoch for i in frames}) >= 3
    assert [i.t_stream for i in frames] == pytest.approx([i.seq / 25.0 for i in frames])
    assert all(i.t_media == i.t_stream for i in frames)


def test_a_looping_file_replaced_on_disk_plays_the_new_content(tmp_path: Path) -> None:
    """Each pass rewinds the open file; a file replaced meanwhile is reopened, one deleted fails."""
    clip = tmp_path / "clip.mp4"
    make_mp4v_clip(clip, 10, 25.0, size=(320, 240))
    worker, sink = play(clip)
    try:
        deadline = time.monotonic() + 5.0
        while len({f.info.epoch for f in sink.frames}) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # three passes over the same open file
        assert {(f.info.width, f.info.height) for f in sink.frames} == {(320, 240)}
        make_mp4v_clip(tmp_path / "next.mp4", 10, 25.0, size=(160, 120)).replace(clip)
        deadline = time.monotonic() + 5.0
        while sink.frames[-1].info.width != 160 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (sink.frames[-1].info.width, sink.frames[-1].info.height) == (160, 120)
        clip.unlink()
        worker.join(5.0)
        assert not worker.is_alive()
        assert sink.states[-1] is StreamState.FAILED
    finally:
        worker.stop()
        worker.join(3.0)


def test_a_looping_file_replaced_by_a_clip_of_another_rate_plays_at_the_new_rate(tmp_path: Path) -> None:
    """The pacing follows the clip: 25 frames/s, then 10 frames/s once a 10 fps clip replaced it."""
    clip = tmp_path / "clip.mp4"
    make_mp4v_clip(clip, 10, 25.0, size=(320, 240))
    worker, sink = play(clip)
    try:
        deadline = time.monotonic() + 5.0
        while len({f.info.epoch for f in sink.frames}) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        make_mp4v_clip(tmp_path / "next.mp4", 10, 10.0, size=(160, 120)).replace(clip)
        deadline = time.monotonic() + 5.0
        while sink.frames[-1].info.width != 160 and time.monotonic() < deadline:
            time.sleep(0.01)
        first = len(sink.frames) - 1
        time.sleep(3.0)
        new = [f.info.t_capture_mono for f in sink.frames[first:]]
        rate = (len(new) - 1) / (new[-1] - new[0])
        assert 9.0 <= rate <= 11.0, rate
        media = [f.info.t_stream for f in sink.frames[first:]]
        assert all(b - a == pytest.approx(0.1) for a, b in itertools.pairwise(media))  # 10 fps on its timeline
    finally:
        worker.stop()
        worker.join(3.0)


@pytest.mark.parametrize(
    ("realtime", "live_nice", "offline_nice", "nice"), [(True, 0, 10, 0), (True, 5, 10, 5), (False, 5, 12, 12)]
)
def test_capture_threads_lower_their_own_priority_only(
    tmp_path: Path, realtime: bool, live_nice: int, offline_nice: int, nice: int
) -> None:
    """Each capture thread adds its niceness (live or offline), so inference (nice 0) keeps a core."""
    clip = make_mp4v_clip(tmp_path / "short.mp4", 10, 25.0)
    cfg = StreamConfig(name="nice", source=str(clip), realtime=realtime, loop=True)
    sink = Collector()
    capture = CaptureConfig(thread_nice=live_nice, offline_thread_nice=offline_nice)
    worker = CaptureWorker(cfg, Source(SourceKind.FILE, str(clip), str(clip)), capture, sink, sink)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    worker.start()
    try:
        deadline = time.monotonic() + 5.0
        while not sink.frames and time.monotonic() < deadline:
            time.sleep(0.005)
        assert worker.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, worker.native_id) == min(19, base + nice)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller is untouched
    finally:
        worker.stop()
        worker.join(3.0)

"""The batcher's waiting rules on an injected clock: rates and deadlines in logical time, not sleeps.

Each test teaches the batcher two streams' frame rate by stamping their frames on a fake clock,
then asks for a batch while one stream's frame is missing. Whether ``take`` waits for it depends
only on the logical times. A frame put from a timer ends any wait, so a test that waits where it
should not fails on the batch it gets instead of hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from streamer.batcher import Batcher, Policy
from streamer.records import FrameInfo, Prepared

SAFETY_S = 2.0  # real seconds after which the missing frame arrives anyway


class FakeClock:
    """Logical seconds; moves only when a test moves it."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def item(stream: str, seq: int) -> Prepared:
    return Prepared(FrameInfo(stream, seq, 0, 0.0, 0.0, 8, 8), {})


class Rig:
    """A batcher on a fake clock with two live streams, ``a`` and ``b``."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.drops: list[tuple[str, str]] = []
        self.batcher = Batcher(lambda s, r: self.drops.append((s, r)), clock=self.clock)
        self.stop = threading.Event()
        self.timers: list[threading.Timer] = []
        for name in ("a", "b"):
            self.batcher.register(name, Policy.LATEST, lambda _p: None)

    def learn(self, interval: float, frames: int = 3) -> None:
        """Both streams deliver ``frames`` frames, ``interval`` logical seconds apart, each batched."""
        start = self.clock.t
        for seq in range(frames):
            self.clock.t = start + seq * interval
            for name in ("a", "b"):
                assert self.batcher.put(item(name, seq), self.stop)
            assert len(self.batcher.take(2, 0.0, 0.1)) == 2

    def put_later(self, stream: str, seq: int, real_s: float, at: float | None = None) -> None:
        """Put a frame from a timer thread after ``real_s`` real seconds, stamped at logical ``at``."""

        def put() -> None:
            if at is not None:
                self.clock.t = at
            self.batcher.put(item(stream, seq), self.stop)

        timer = threading.Timer(real_s, put)
        timer.start()
        self.timers.append(timer)

    def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.batcher.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def streams_of(batch: list[Prepared]) -> list[str]:
    return sorted(p.info.stream for p in batch)


def test_waits_for_a_stream_due_before_the_deadline(rig: Rig) -> None:
    rig.learn(interval=1.0)  # frames at t = 100, 101, 102
    rig.clock.t = 102.95
    rig.batcher.put(item("a", 3), rig.stop)
    rig.put_later("b", 3, 0.05, at=103.0)  # b's frame comes when due, 1 s after its last
    # b is due at 103.0, inside the 0.5 s deadline: a waits for it.
    assert streams_of(rig.batcher.take(2, 0.5, 1.0)) == ["a", "b"]


def test_goes_at_once_when_the_other_stream_is_due_after_the_deadline(rig: Rig) -> None:
    rig.learn(interval=1.0)
    rig.clock.t = 102.5
    rig.batcher.put(item("a", 3), rig.stop)
    rig.put_later("b", 3, SAFETY_S)
    # b is due at 103.0, after the deadline (102.7): waiting could not fill the batch.
    assert streams_of(rig.batcher.take(2, 0.2, 1.0)) == ["a"]


def test_a_stream_overdue_by_more_than_two_intervals_is_not_waited_for(rig: Rig) -> None:
    rig.learn(interval=0.04)  # a 25 fps camera: frames at t = 100.00, 100.04, 100.08
    rig.clock.t = 100.30  # b's frame was due at 100.12; 0.18 s late is more than 2 x 40 ms
    rig.batcher.put(item("a", 3), rig.stop)
    rig.put_later("b", 3, SAFETY_S)
    assert streams_of(rig.batcher.take(2, 1.0, 1.0)) == ["a"]


def test_a_stream_late_by_less_than_two_intervals_is_still_waited_for(rig: Rig) -> None:
    rig.learn(interval=0.04)
    rig.clock.t = 100.15  # due at 100.12, 30 ms late: within 2 intervals, still expected
    rig.batcher.put(item("a", 3), rig.stop)
    rig.put_later("b", 3, 0.05)
    assert streams_of(rig.batcher.take(2, 1.0, 1.0)) == ["a", "b"]


def test_patience_counts_in_logical_time(rig: Rig) -> None:
    rig.learn(interval=1.0)
    rig.clock.t = 102.95
    rig.batcher.put(item("a", 3), rig.stop)
    rig.put_later("b", 3, SAFETY_S, at=103.0)
    asked: list[int] = []

    def patience(ready: int) -> float:
        asked.append(ready)
        return 0.01  # one ready frame may wait 10 ms; b is due in 50 ms

    assert streams_of(rig.batcher.take(2, 0.5, 1.0, patience)) == ["a"]
    assert asked == [1]

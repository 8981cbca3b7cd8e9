"""Batching across streams: newest frame wins, back-pressure for offline files, round-robin."""

from __future__ import annotations

import threading
import time

import pytest

from streamer.batcher import WAIT_DEPTH, Batcher, Policy
from streamer.records import FrameInfo, Prepared


def item(stream: str, seq: int) -> Prepared:
    return Prepared(FrameInfo(stream, seq, 0, 0.0, 0.0, 8, 8), {})


class Recorder:
    def __init__(self) -> None:
        self.drops: list[tuple[str, str]] = []
        self.released: list[tuple[str, int]] = []

    def drop(self, stream: str, reason: str) -> None:
        self.drops.append((stream, reason))

    def release(self, p: Prepared) -> None:
        self.released.append((p.info.stream, p.info.seq))


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def live_streams(
    b: Batcher, rec: Recorder, names: tuple[str, ...], *, frames: int, gap: float, stop: threading.Event
) -> None:
    """Register live streams and let the batcher learn their rate: ``frames`` frames each, ``gap`` s apart."""
    for name in names:
        b.register(name, Policy.LATEST, rec.release)
    for seq in range(frames):
        if seq:
            time.sleep(gap)
        for name in names:
            b.put(item(name, seq), stop)
        b.take(len(names), 0.0, 0.1)


def test_latest_policy_keeps_newest_and_counts_drops(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    b.register("a", Policy.LATEST, rec.release)
    stop = threading.Event()
    for seq in range(3):
        assert b.put(item("a", seq), stop)
    batch = b.take(8, 0.0, 0.1)
    assert [p.info.seq for p in batch] == [2]
    assert rec.drops == [("a", "superseded")] * 2
    assert rec.released == [("a", 0), ("a", 1)]


def test_wait_policy_blocks_until_taken(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    b.register("f", Policy.WAIT, rec.release)
    stop = threading.Event()
    for seq in range(WAIT_DEPTH):
        assert b.put(item("f", seq), stop)
    done = threading.Event()

    def producer() -> None:
        b.put(item("f", WAIT_DEPTH), stop)
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.3)  # blocked: the queue is full
    assert [p.info.seq for p in b.take(8, 0.0, 0.1)] == [0]  # one frame per stream per batch
    assert done.wait(1.0)
    taken = [p.info.seq for _ in range(WAIT_DEPTH) for p in b.take(8, 0.0, 0.1)]
    assert taken == list(range(1, WAIT_DEPTH + 1))  # in order, none lost
    assert rec.drops == []


def test_wait_policy_gives_up_on_stop(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    b.register("f", Policy.WAIT, rec.release)
    stop = threading.Event()
    for seq in range(WAIT_DEPTH):
        b.put(item("f", seq), stop)
    threading.Timer(0.2, stop.set).start()
    assert b.put(item("f", WAIT_DEPTH), stop) is False
    assert rec.released == [("f", WAIT_DEPTH)]


def test_round_robin_never_starves(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    names = [f"s{i}" for i in range(5)]
    for n in names:
        b.register(n, Policy.LATEST, rec.release)
    stop = threading.Event()
    served: list[str] = []
    for rnd in range(5):
        for n in names:
            b.put(item(n, rnd), stop)
        served += [p.info.stream for p in b.take(2, 0.0, 0.1)]
    # 5 batches of 2 from 5 always-ready streams: every stream served exactly twice.
    assert sorted(served) == sorted(names * 2)


def test_deadline_waits_for_other_streams_then_goes(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    b.register("a", Policy.LATEST, rec.release)
    b.register("b", Policy.LATEST, rec.release)
    stop = threading.Event()
    b.put(item("a", 0), stop)
    threading.Timer(0.02, lambda: b.put(item("b", 0), stop)).start()
    t0 = time.monotonic()
    batch = b.take(8, 0.2, 1.0)
    assert sorted(p.info.stream for p in batch) == ["a", "b"]
    assert time.monotonic() - t0 < 0.2  # went as soon as every stream was in
    b.put(item("a", 1), stop)
    t0 = time.monotonic()
    assert len(b.take(8, 0.05, 1.0)) == 1
    assert 0.04 < time.monotonic() - t0 < 0.5  # waited the deadline for b, then went


def test_unregister_releases_pending(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    b.register("a", Policy.LATEST, rec.release)
    b.put(item("a", 7), threading.Event())
    b.unregister("a")
    assert rec.released == [("a", 7)]
    assert b.take(8, 0.0, 0.05) == []


def test_busy_only_for_a_live_stream_with_a_pending_frame(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    b.register("live", Policy.LATEST, rec.release)
    b.register("file", Policy.WAIT, rec.release)
    stop = threading.Event()
    assert not b.busy("live")
    b.put(item("live", 0), stop)
    b.put(item("file", 0), stop)
    assert b.busy("live") and not b.busy("file") and not b.busy("gone")
    b.take(4, 0.0, 0.1)
    assert not b.busy("live")


def test_take_does_not_wait_for_streams_not_due_before_the_deadline(rec: Recorder) -> None:
    """Slow cameras (a frame every 0.2 s) are not waited for; a stream of unknown rate is."""
    b = Batcher(rec.drop)
    stop = threading.Event()
    live_streams(b, rec, ("a", "b"), frames=2, gap=0.2, stop=stop)
    b.put(item("a", 2), stop)
    t0 = time.monotonic()
    assert [p.info.stream for p in b.take(2, 0.1, 0.1)] == ["a"]  # b is due in 0.2 s, past the deadline
    assert time.monotonic() - t0 < 0.05
    b.register("new", Policy.LATEST, rec.release)
    b.put(item("a", 3), stop)
    t0 = time.monotonic()
    assert len(b.take(3, 0.15, 0.1)) == 1
    assert time.monotonic() - t0 >= 0.14


def test_patience_shortens_the_wait_and_restarts_when_a_frame_arrives(rec: Recorder) -> None:
    """A stream due soon is waited for only as long as ``patience`` allows for the frames ready."""
    b = Batcher(rec.drop)
    stop = threading.Event()
    for s in ("a", "b", "c"):
        b.register(s, Policy.LATEST, rec.release)  # unknown rates: every stream counts as due
    asked: list[int] = []

    def patience(ready: int) -> float:
        asked.append(ready)
        return 0.0 if ready == 1 else 0.3

    b.put(item("a", 0), stop)
    t0 = time.monotonic()
    assert len(b.take(3, 5.0, 0.1, patience)) == 1  # one ready frame: not worth waiting at all
    assert time.monotonic() - t0 < 0.5
    b.put(item("a", 1), stop)
    b.put(item("b", 0), stop)
    t0 = time.monotonic()
    assert len(b.take(3, 5.0, 0.1, patience)) == 2  # two ready: wait 0.3 s for c, not the 5 s deadline
    assert 0.29 <= time.monotonic() - t0 < 2.0
    assert asked[0] == 1 and set(asked[1:]) == {2}
    # None from patience (cost unknown): the deadline rules again, so the batch waits out 0.3 s for c
    b.put(item("a", 2), stop)
    t0 = time.monotonic()
    assert len(b.take(3, 0.3, 0.1, lambda ready: None)) == 1
    assert 0.29 <= time.monotonic() - t0 < 2.0


def test_patience_counts_from_the_latest_change_in_ready_frames(rec: Recorder) -> None:
    b = Batcher(rec.drop)
    stop = threading.Event()
    for s in ("a", "b", "c"):
        b.register(s, Policy.LATEST, rec.release)
    b.put(item("a", 0), stop)
    late = threading.Timer(0.2, lambda: b.put(item("b", 0), stop))
    late.start()
    t0 = time.monotonic()
    # One ready: wait up to 0.3 s; b comes at 0.2 s, and two ready wait 0.3 s more for c.
    assert len(b.take(3, 5.0, 0.1, lambda ready: 0.3)) == 2
    assert 0.49 <= time.monotonic() - t0 < 2.5
    late.join()


def test_a_stream_long_overdue_is_not_waited_for(rec: Recorder) -> None:
    """A camera that stopped sending must not hold every batch until the deadline."""
    b = Batcher(rec.drop)
    stop = threading.Event()
    live_streams(b, rec, ("live", "gone"), frames=3, gap=0.05, stop=stop)
    time.sleep(0.35)  # "gone" is now six intervals overdue
    b.put(item("live", 3), stop)
    t0 = time.monotonic()
    assert [p.info.stream for p in b.take(2, 2.0, 0.1)] == ["live"]
    assert time.monotonic() - t0 < 1.0

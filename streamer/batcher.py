"""Cross-stream batching: the newest ready frame of each stream, round-robin, up to ``max_batch``.

A live stream (policy LATEST) has one pending slot: a newer frame replaces the pending one, which
is counted as dropped. A file played offline (policy WAIT) queues up to ``WAIT_DEPTH`` frames, in
order, and blocks its capture thread while the queue is full, so no frame is lost. A batch takes
at most one frame per stream. Streams taken in a batch move to the
back of the round-robin order, so with more streams than ``max_batch`` none starves.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from streamer.records import DropReason, Prepared


class Policy(StrEnum):
    """What a full slot does with a new frame."""

    LATEST = "latest"  # newest frame wins, the superseded one is dropped (live sources)
    WAIT = "wait"  # the producer waits (files processed offline)


Release = Callable[[Prepared], None]
Patience = Callable[[int], float | None]  # ready frames -> how long they may wait for one more


# Frames an offline file may have ready ahead of inference. More than one lets the capture threads
# keep working while the inference thread is busy or slow to wake (a lockstep hand-over of single
# frames cost a third of the throughput with 4 streams on 2 busy cores).
WAIT_DEPTH = 3

# A stream whose next frame is later than this many frame intervals is not waited for.
OVERDUE = 2.0


@dataclass
class _Channel:
    policy: Policy
    release: Release
    space: threading.Condition  # a blocked producer of this stream waits here for room
    queue: deque[Prepared] = field(default_factory=deque)
    last_put: float | None = None
    interval: float = 0.0  # smoothed time between frames; 0 until known

    def arrived(self, now: float) -> None:
        if self.last_put is not None:
            gap = now - self.last_put
            self.interval = gap if self.interval == 0.0 else 0.8 * self.interval + 0.2 * gap
        self.last_put = now

    def expected_by(self, t: float, now: float) -> bool:
        """Whether this stream's next frame is due by ``t`` (unknown rates count as due).

        A frame overdue by more than ``OVERDUE`` intervals at ``now`` is not expected any more: a
        camera that stopped sending must not hold every batch until the deadline.
        """
        if self.last_put is None or self.interval == 0.0:
            return True
        due = self.last_put + self.interval
        return due <= t and now <= due + OVERDUE * self.interval


class Batcher:
    """The meeting point of capture threads (producers) and the inference thread (consumer)."""

    def __init__(self, on_drop: Callable[[str, DropReason], None], clock: Callable[[], float] = time.monotonic) -> None:
        # One lock, a condition per waiter: the inference thread waits for frames on ``_cond``,
        # a blocked producer for room in its own stream's queue, so each event wakes only the
        # thread that can use it (one shared condition woke every capture thread on every put).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._channels: dict[str, _Channel] = {}
        self._order: deque[str] = deque()
        self._on_drop = on_drop
        # Arrival rates and batch deadlines are read on this clock, so tests can run them on logical time.
        self._clock = clock
        self._closed = False

    def register(self, stream: str, policy: Policy, release: Release) -> None:
        """Add a stream; ``release`` gets back every frame the batcher drops."""
        with self._cond:
            if stream not in self._channels:
                self._order.append(stream)
            self._channels[stream] = _Channel(policy, release, threading.Condition(self._lock))

    def unregister(self, stream: str) -> None:
        """Remove a stream, releasing its pending frame and waking its blocked producer."""
        with self._cond:
            channel = self._channels.pop(stream, None)
            if stream in self._order:
                self._order.remove(stream)
            self._cond.notify_all()
            if channel is not None:
                channel.space.notify_all()
        while channel is not None and channel.queue:
            channel.release(channel.queue.popleft())

    def close(self) -> None:
        """Wake everyone; later puts are released at once and takes return empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            for channel in self._channels.values():
                channel.space.notify_all()

    def put(self, item: Prepared, stop: threading.Event) -> bool:
        """Offer a frame; return False if it was not accepted (stream gone, closing or stopping)."""
        superseded: Prepared | None = None
        stream = item.info.stream
        with self._cond:
            channel = self._channels.get(stream)
            while (
                channel is not None
                and channel.policy is Policy.WAIT
                and len(channel.queue) >= WAIT_DEPTH
                and not stop.is_set()
                and not self._closed
            ):
                # Bounded waits so a stop request is seen promptly.
                channel.space.wait(0.1)
                channel = self._channels.get(stream)
            if channel is None or self._closed or (channel.policy is Policy.WAIT and stop.is_set()):
                accepted = False
            else:
                if channel.policy is Policy.LATEST and channel.queue:
                    superseded = channel.queue.popleft()
                channel.queue.append(item)
                channel.arrived(self._clock())
                accepted = True
                self._cond.notify()
        if not accepted:
            release = channel.release if channel is not None else None
            if release is not None:
                release(item)
            return False
        if superseded is not None and channel is not None:
            channel.release(superseded)
            self._on_drop(stream, DropReason.SUPERSEDED)
        return True

    def busy(self, stream: str) -> bool:
        """A live stream whose pending frame has not been taken yet: a new frame would only replace it.

        The capture thread asks before preprocessing, so under overload it skips that work for
        frames that could not be inferred anyway, and keeps up with the camera instead of lagging.
        """
        with self._cond:
            channel = self._channels.get(stream)
            return channel is not None and channel.policy is Policy.LATEST and bool(channel.queue)

    def _more_expected(self, end: float) -> bool:
        now = self._clock()
        return any(not c.queue and c.expected_by(end, now) for c in self._channels.values())

    def _ready(self) -> int:
        return sum(1 for c in self._channels.values() if c.queue)

    def take(
        self, max_batch: int, deadline_s: float, timeout_s: float, patience: Patience | None = None
    ) -> list[Prepared]:
        """Up to ``max_batch`` frames, one per stream; empty after ``timeout_s`` with none ready.

        Once one frame is ready, waits at most ``deadline_s`` for the other streams to fill a batch,
        and only while some stream's next frame is due before then (judged from its frame rate).
        ``patience(k)``, where given, shortens the wait: ``k`` ready frames wait at most that long
        for another, counted from when this call first saw ``k`` ready; None means up to the deadline.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._ready() > 0, timeout_s):
                return []
            if self._closed:
                return []
            want = min(max_batch, len(self._channels))
            end = self._clock() + deadline_s
            ready, since = 0, 0.0
            while not self._closed:
                now = self._clock()
                count = self._ready()
                if count >= want:
                    break
                if count != ready:
                    ready, since = count, now
                limit = end
                extra = patience(ready) if patience is not None else None
                if extra is not None:
                    limit = min(end, since + extra)
                if limit <= now or not self._more_expected(limit):
                    # No other stream's frame is due in time (cameras at 25 fps are 40 ms apart),
                    # or batching it would save less than the wait costs: go now.
                    break
                self._cond.wait(limit - now)
            return self._pop(max_batch)

    def _pop(self, max_batch: int) -> list[Prepared]:
        """Up to ``max_batch`` ready frames, round-robin: the streams taken go to the back. Lock held."""
        batch: list[Prepared] = []
        taken: list[str] = []
        for stream in self._order:
            channel = self._channels[stream]
            if channel.queue:
                batch.append(channel.queue.popleft())
                taken.append(stream)
                if len(batch) == max_batch:
                    break
        for stream in taken:
            self._order.remove(stream)
            self._order.append(stream)
            self._channels[stream].space.notify()
        return batch

    def release(self, item: Prepared) -> None:
        """Hand a consumed frame's buffers back to its stream's pool."""
        with self._cond:
            channel = self._channels.get(item.info.stream)
        if channel is not None:
            channel.release(item)

    def streams(self) -> list[str]:
        with self._cond:
            return list(self._order)

"""The open gate: one holder at a time, lowest priority number first, waiters kept alive and stoppable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from streamer.opengate import OpenGate


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_waiters_go_one_at_a_time_lowest_priority_first_ties_in_arrival_order() -> None:
    gate = OpenGate(step_s=0.01)
    assert gate.acquire(0, lambda: True)
    order: list[str] = []
    holders = 0
    most = 0
    lock = threading.Lock()

    def waiter(name: str, priority: int) -> None:
        nonlocal holders, most
        assert gate.acquire(priority, lambda: True)
        with lock:
            holders += 1
            most = max(most, holders)
            order.append(name)
        time.sleep(0.01)
        with lock:
            holders -= 1
        gate.release()

    threads = []
    for i, (name, priority) in enumerate([("dead-long", 9), ("fresh", 0), ("retrying", 2), ("fresh-later", 0)]):
        t = threading.Thread(target=waiter, args=(name, priority))
        t.start()
        threads.append(t)

        def arrived(n: int = i + 1) -> bool:
            return gate.waiting() == n

        wait_for(arrived)
    gate.release()
    for t in threads:
        t.join(5.0)
    assert order == ["fresh", "fresh-later", "retrying", "dead-long"]
    assert most == 1
    assert gate.waiting() == 0


def test_a_waiter_is_kept_alive_and_can_give_up() -> None:
    gate = OpenGate(step_s=0.01)
    assert gate.acquire(0, lambda: True)
    calls = 0
    stop = threading.Event()

    def keep_alive() -> bool:
        nonlocal calls
        calls += 1
        return not stop.is_set()

    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(gate.acquire(0, keep_alive)))
    t.start()
    wait_for(lambda: calls >= 5)  # called every step while it waits: the heartbeat stays fresh
    stop.set()
    t.join(5.0)
    assert result == [False]
    assert gate.waiting() == 0
    gate.release()
    assert gate.acquire(3, lambda: False)  # free: taken at once, keep_alive not even asked
    gate.release()

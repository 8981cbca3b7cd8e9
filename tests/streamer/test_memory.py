"""The heap helpers: settling freezes what is alive, and a later settle still collects it."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from streamer.memory import settle_heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def _cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


def test_settle_freezes_what_is_alive() -> None:
    gc.unfreeze()
    settle_heap()
    assert gc.get_freeze_count() > 1000  # this interpreter's modules at least


def test_a_frozen_cycle_is_collected_by_the_next_settle() -> None:
    a, ref = _cycle()
    settle_heap()
    del a
    gc.collect()
    assert ref() is not None  # frozen: out of the collector's reach
    settle_heap()
    assert ref() is None


def test_a_full_collection_after_settling_skips_the_frozen_heap() -> None:
    keep = [[Node() for _ in range(10)] for _ in range(20_000)]  # 200,000 tracked objects
    gc.unfreeze()

    def full_pass() -> float:
        t0 = time.perf_counter()
        gc.collect()
        return time.perf_counter() - t0

    before = min(full_pass() for _ in range(3))
    settle_heap()
    after = min(full_pass() for _ in range(3))
    assert after < before / 4, (before, after)
    del keep

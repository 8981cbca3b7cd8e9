"""Per-object sequence state: zeros at birth, follows the object across batches, gone at death."""

from __future__ import annotations

import numpy as np

from streamer.objstate import ObjectKey, ObjectStates


def step(store: ObjectStates, keys: list[ObjectKey], values: list[float]) -> tuple[np.ndarray, list[int], list[int]]:
    """One model step where each object's new state is filled with its value."""
    buf = np.full((store.layers, 16, store.size), np.nan, np.float32)
    before = store.gather(keys, buf).tolist()
    h_in = buf[:, : len(keys)].copy()
    h_out = np.stack([np.full((store.layers, store.size), v, np.float32) for v in values], axis=1)
    after = store.scatter(keys, h_out).tolist()
    return h_in, before, after


def test_new_objects_start_from_zeros_and_keep_their_own_state_across_streams() -> None:
    store = ObjectStates(layers=2, size=3)
    h_in, before, after = step(store, [("a", 1), ("a", 2), ("b", 1)], [1.0, 2.0, 3.0])
    assert np.all(h_in == 0) and before == [0, 0, 0] and after == [1, 1, 1]
    # Another batch order, one object missing this frame: state follows the key, not the slot.
    h_in, before, after = step(store, [("b", 1), ("a", 1)], [4.0, 5.0])
    assert np.all(h_in[:, 0] == 3.0) and np.all(h_in[:, 1] == 1.0)
    assert before == [1, 1] and after == [2, 2]
    h_in, before, _ = step(store, [("a", 2)], [6.0])
    assert np.all(h_in == 2.0) and before == [1]


def test_an_ended_track_leaves_nothing_behind_for_the_next_one() -> None:
    store = ObjectStates(1, 2, capacity=1)
    step(store, [("a", 1)], [9.0])
    assert store.end([("a", 1), ("a", 99)]) == 1
    assert len(store) == 0 and ("a", 1) not in store
    # The freed slot is reused by the next track, which must still start from zeros.
    h_in, before, _ = step(store, [("a", 2)], [1.0])
    assert np.all(h_in == 0) and before == [0]


def test_growth_keeps_every_state() -> None:
    store = ObjectStates(1, 4, capacity=2)
    keys = [("s", i) for i in range(1, 11)]
    step(store, keys, [float(i) for i in range(1, 11)])
    h_in, before, _ = step(store, keys[::-1], [0.0] * 10)
    assert [float(h_in[0, i, 0]) for i in range(10)] == [float(i) for i in range(10, 0, -1)]
    assert before == [1] * 10 and len(store) == 10


def test_end_stream_drops_only_that_stream() -> None:
    store = ObjectStates(1, 2)
    step(store, [("a", 1), ("b", 1), ("a", 2)], [1.0, 2.0, 3.0])
    assert store.end_stream("a") == 2
    assert store.keys() == [("b", 1)]


def test_memory_follows_the_peak_not_the_tracks_ever_seen() -> None:
    store = ObjectStates(1, 2, capacity=4)
    for track in range(1, 1000):
        step(store, [("a", track)], [1.0])
        store.end([("a", track)])
    assert store._pool.shape[0] == 4 and len(store) == 0

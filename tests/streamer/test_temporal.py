"""Sequence state: gather into the batch, scatter back, reset on epoch change and on gaps."""

from __future__ import annotations

import numpy as np

from streamer.records import FrameInfo
from streamer.temporal import StateStore


def info(stream: str, t: float, epoch: int = 0) -> FrameInfo:
    return FrameInfo(stream, 0, epoch, t, t, 8, 8)


def step(store: StateStore, frames: list[FrameInfo], values: list[float]) -> tuple[np.ndarray, list[int]]:
    buf = np.full((store.layers, 4, store.size), np.nan, dtype=np.float32)
    steps = store.gather(frames, buf)
    h_in = buf[:, : len(frames)].copy()
    h_out = np.stack([np.full((store.layers, store.size), v, np.float32) for v in values], axis=1)
    store.scatter(frames, h_out, steps)
    return h_in, steps


def test_new_streams_start_from_zeros_and_keep_their_own_state() -> None:
    store = StateStore(layers=2, size=3, reset_gap_s=1.0)
    h_in, steps = step(store, [info("a", 0.0), info("b", 0.0)], [1.0, 2.0])
    assert np.all(h_in == 0) and steps == [0, 0]
    # Batch order differs from last time: state follows the stream, not the slot.
    h_in, steps = step(store, [info("b", 0.1), info("a", 0.1)], [3.0, 4.0])
    assert np.all(h_in[:, 0] == 2.0) and np.all(h_in[:, 1] == 1.0)
    assert steps == [1, 1]


def test_reset_on_new_epoch() -> None:
    store = StateStore(1, 2, reset_gap_s=10.0)
    step(store, [info("a", 0.0)], [5.0])
    h_in, steps = step(store, [info("a", 0.1, epoch=1)], [6.0])
    assert np.all(h_in == 0) and steps == [0]
    assert store.resets == 1


def test_reset_after_gap_but_not_before() -> None:
    store = StateStore(1, 2, reset_gap_s=0.5)
    step(store, [info("a", 0.0)], [5.0])
    h_in, _ = step(store, [info("a", 0.4)], [6.0])
    assert np.all(h_in == 5.0)
    h_in, steps = step(store, [info("a", 1.0)], [7.0])
    assert np.all(h_in == 0) and steps == [0]


def test_a_files_gaps_are_measured_on_its_own_timeline() -> None:
    """A file stalled 3 s by a busy machine is still 40 ms a frame: its state carries on."""
    store = StateStore(1, 2, reset_gap_s=0.5)
    step(store, [FrameInfo("f", 0, 0, 0.0, 0.0, 8, 8, t_media=0.0)], [5.0])
    h_in, steps = step(store, [FrameInfo("f", 1, 0, 3.0, 3.0, 8, 8, t_media=0.04)], [6.0])
    assert np.all(h_in == 5.0) and steps == [1]


def test_forget() -> None:
    store = StateStore(1, 2, reset_gap_s=1.0)
    step(store, [info("a", 0.0), info("b", 0.0)], [1.0, 1.0])
    store.forget("a")
    assert store.streams() == ["b"]

"""Hidden state of the one-step sequence model per tracked object: gather into a batch, scatter back.

Where :mod:`streamer.temporal` keeps one state per stream, this store keeps one per track, keyed
by ``(stream, track_id)``. States live in one pool array ``[capacity, L, H]``: gathering the
objects of a whole batch (all tracks of all streams) is one fancy-indexed copy, and a dict lookup
per object finds its slot, so a step costs O(1) per object whatever the number of tracks alive.
A track's state is created (zeros) on its first step and dropped when the track ends; its slot
is then reused. The pool grows by doubling and never shrinks below its peak, so memory follows
the busiest moment, not the number of tracks ever seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

ObjectKey = tuple[str, int]  # (stream, track id)


class ObjectStates:
    """Per-object hidden states, owned by the inference thread alone (no locking)."""

    def __init__(self, layers: int, size: int, capacity: int = 64) -> None:
        self.layers = layers
        self.size = size
        self._pool = np.zeros((max(1, capacity), layers, size), np.float32)
        self._steps = np.zeros(max(1, capacity), np.int64)
        self._slots: dict[ObjectKey, int] = {}
        self._free: list[int] = list(range(max(1, capacity) - 1, -1, -1))

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: ObjectKey) -> bool:
        return key in self._slots

    def _slot(self, key: ObjectKey) -> int:
        slot = self._slots.get(key)
        if slot is None:
            if not self._free:
                self._grow()
            slot = self._free.pop()
            self._pool[slot] = 0.0
            self._steps[slot] = 0
            self._slots[key] = slot
        return slot

    def _grow(self) -> None:
        old = self._pool.shape[0]
        self._pool = np.concatenate([self._pool, np.zeros_like(self._pool)])
        self._steps = np.concatenate([self._steps, np.zeros_like(self._steps)])
        self._free.extend(range(2 * old - 1, old - 1, -1))

    def gather(self, keys: Sequence[ObjectKey], out: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Fill ``out[:, :n]`` with each object's state (zeros for a new one); return its steps so far."""
        slots = np.fromiter((self._slot(k) for k in keys), np.intp, len(keys))
        out[:, : len(keys)] = self._pool[slots].transpose(1, 0, 2)
        steps: npt.NDArray[np.int64] = self._steps[slots]
        return steps

    def scatter(self, keys: Sequence[ObjectKey], h_out: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Store ``h_out[:, i]`` as object ``keys[i]``'s state after one more step; return its steps now."""
        slots = np.fromiter((self._slot(k) for k in keys), np.intp, len(keys))
        self._pool[slots] = h_out[:, : len(keys)].transpose(1, 0, 2)
        self._steps[slots] += 1
        steps: npt.NDArray[np.int64] = self._steps[slots]
        return steps

    def end(self, keys: Iterable[ObjectKey]) -> int:
        """Drop the states of ended tracks; returns how many were held."""
        dropped = 0
        for key in keys:
            slot = self._slots.pop(key, None)
            if slot is not None:
                self._free.append(slot)
                dropped += 1
        return dropped

    def end_stream(self, stream: str) -> int:
        """Drop every state of a stream (removed, or its tracker was reset)."""
        return self.end([k for k in self._slots if k[0] == stream])

    def keys(self) -> list[ObjectKey]:
        return sorted(self._slots)

"""Per-stream hidden state of the one-step sequence model: gather into a batch, scatter back.

The daemon owns the state; the model sees ``h_in[L, N, H]`` and returns ``h_out``. A stream's
state restarts from zeros on a new epoch (reconnect, file loop) or after a gap in its frames,
so a label never carries over from a different scene. Cost per frame is O(1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamer.records import FrameInfo


@dataclass
class _Entry:
    h: npt.NDArray[np.float32]  # [L, H]
    epoch: int
    last_t: float
    steps: int


class StateStore:
    """Hidden state per stream, owned by the inference thread alone (no locking)."""

    def __init__(self, layers: int, size: int, reset_gap_s: float) -> None:
        self.layers = layers
        self.size = size
        self.reset_gap_s = reset_gap_s
        self._entries: dict[str, _Entry] = {}
        self.resets = 0

    def gather(self, frames: Sequence[FrameInfo], out: npt.NDArray[np.float32]) -> list[int]:
        """Fill ``out[:, :n]`` with each frame's stream state; return the step count before this one.

        A stream seen for the first time, on a new epoch, or after a gap gets zeros.
        """
        steps: list[int] = []
        for i, info in enumerate(frames):
            entry = self._entries.get(info.stream)
            if entry is not None and self._continues(entry, info):
                out[:, i, :] = entry.h
                steps.append(entry.steps)
            else:
                if entry is not None:
                    self.resets += 1
                out[:, i, :] = 0.0
                steps.append(0)
        return steps

    def _continues(self, entry: _Entry, info: FrameInfo) -> bool:
        gap = info.t_stream - entry.last_t
        return entry.epoch == info.epoch and 0 <= gap <= self.reset_gap_s

    def scatter(self, frames: Sequence[FrameInfo], h_out: npt.NDArray[np.float32], steps: Sequence[int]) -> None:
        """Store each frame's new state ``h_out[:, i]`` back under its stream."""
        for i, info in enumerate(frames):
            entry = self._entries.get(info.stream)
            if entry is None:
                entry = _Entry(np.empty((self.layers, self.size), np.float32), info.epoch, 0.0, 0)
                self._entries[info.stream] = entry
            np.copyto(entry.h, h_out[:, i, :])
            entry.epoch = info.epoch
            entry.last_t = info.t_stream
            entry.steps = steps[i] + 1

    def forget(self, stream: str) -> None:
        """Drop a removed stream's state."""
        self._entries.pop(stream, None)

    def streams(self) -> list[str]:
        return sorted(self._entries)

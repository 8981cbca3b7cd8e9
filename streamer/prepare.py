"""The capture-side half of preprocessing: a frame into recycled per-model input buffers.

Each stream owns one FramePreparer (its scratch buffers are not shared between threads). The
buffers of a Prepared frame return to the pool once the inference thread has copied them into
its batch, or once the batcher drops the frame, so steady state allocates nothing per frame.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from streamer.modelspec import InputSpec
from streamer.preprocess import Preprocessor
from streamer.records import Frame, ModelInput, Prepared

Buffers = dict[str, npt.NDArray[Any]]


class FramePreparer:
    """Preprocesses one stream's frames for every image model."""

    def __init__(self, specs: Mapping[str, InputSpec], pool_size: int = 5) -> None:
        self._pre = {name: Preprocessor(spec) for name, spec in specs.items()}
        self._lock = threading.Lock()
        self._free: list[Buffers] = [self._new() for _ in range(pool_size)]
        self.allocated = pool_size

    def _new(self) -> Buffers:
        return {name: pre.buffer() for name, pre in self._pre.items()}

    def _acquire(self) -> Buffers:
        with self._lock:
            if self._free:
                return self._free.pop()
            self.allocated += 1
        return self._new()

    def __call__(self, frame: Frame) -> Prepared:
        buffers = self._acquire()
        inputs = {name: ModelInput(buffers[name], pre(frame.picture, buffers[name])) for name, pre in self._pre.items()}
        return Prepared(frame.info, inputs)

    def release(self, item: Prepared) -> None:
        """Give a consumed or dropped frame's buffers back."""
        buffers = {name: inp.tensor for name, inp in item.inputs.items()}
        with self._lock:
            self._free.append(buffers)

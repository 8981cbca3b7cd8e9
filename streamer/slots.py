"""Prepared-frame slots in shared memory: one segment per stream, a fixed number of slots each.

A capture process writes a frame's model inputs into a free slot and names the slot in a small
message; the daemon's process reads the tensors where they lie (no copy until the batch) and
hands the slot back once inference has copied it. The daemon's process creates and unlinks every
segment, so a capture process that dies leaks nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.modelspec import InputSpec

logger = logging.getLogger(__name__)

ALIGN = 64  # every tensor starts on a cache line


@dataclass(frozen=True)
class TensorPlace:
    """One model input's place inside a slot."""

    model: str
    offset: int
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class SlotLayout:
    """How one frame's model inputs lie in a slot, and how many slots a stream has."""

    places: tuple[TensorPlace, ...]
    slot_bytes: int
    slots: int

    @classmethod
    def of(cls, specs: Mapping[str, InputSpec], slots: int) -> SlotLayout:
        places, offset = [], 0
        for name, spec in sorted(specs.items()):
            dtype = np.dtype(np.uint8 if spec.dtype == "uint8" else np.float32)
            shape = spec.shape(1)[1:]
            places.append(TensorPlace(name, offset, shape, dtype.str))
            size = int(np.prod(shape)) * dtype.itemsize
            offset += -(-size // ALIGN) * ALIGN
        return cls(tuple(places), max(offset, ALIGN), slots)

    @property
    def total_bytes(self) -> int:
        return self.slot_bytes * self.slots


class SlotSegment:
    """A stream's slots: created (and later unlinked) by the daemon, attached by a capture process."""

    def __init__(self, layout: SlotLayout, name: str | None = None) -> None:
        self.layout = layout
        self.owner = name is None
        if name is None:
            self._shm = shared_memory.SharedMemory(create=True, size=layout.total_bytes)
        else:
            # A spawned capture process shares the daemon's resource tracker, where attaching
            # registers the name a second time (a no-op): the tracker still unlinks the segment if
            # the daemon dies without doing so itself.
            self._shm = shared_memory.SharedMemory(name=name)
        self.name = self._shm.name
        self._views = [self._slot_views(i) for i in range(layout.slots)]

    def _slot_views(self, index: int) -> dict[str, npt.NDArray[Any]]:
        base = index * self.layout.slot_bytes
        buf = self._shm.buf
        if buf is None:
            raise ValueError(f"shared memory {self.name} is closed")
        # frombuffer holds a buffer export for as long as the view lives, so the mapping cannot be
        # closed under a frame in flight (an ndarray(buffer=...) view does not, and would dangle).
        return {
            p.model: np.frombuffer(
                buf, dtype=np.dtype(p.dtype), count=int(np.prod(p.shape)), offset=base + p.offset
            ).reshape(p.shape)
            for p in self.layout.places
        }

    def views(self, index: int) -> dict[str, npt.NDArray[Any]]:
        """Slot ``index``'s tensors, by model name (views into the segment)."""
        return self._views[index]

    def close(self) -> None:
        """Unlink the segment (if this process created it) and let go of the mapping.

        A frame still in flight may hold a view: the mapping then lives on until the last view is
        gone (the views keep it referenced), instead of being unmapped under them.
        """
        self._views = []
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
            self.owner = False
        try:
            self._shm.close()
        except BufferError:
            # Views are exported: hand the mapping over to them (reference counting unmaps it
            # with the last one) and close only the file descriptor.
            self._shm._buf = None  # type: ignore[attr-defined]
            self._shm._mmap = None  # type: ignore[attr-defined]
            self._shm.close()

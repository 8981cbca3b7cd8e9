"""The inference side of preprocessing: prepared frames copied into one preallocated batch per model.

Copying lets the capture side reuse its per-frame buffers (or shared-memory slots) at once, and
gives each model one contiguous ``[N, ...]`` input without allocating per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.modelset import ImageModel
from streamer.records import Prepared


class BatchInputs:
    """One ``[max_batch, ...]`` input buffer per image model; used by the inference thread alone."""

    def __init__(self, models: Sequence[ImageModel], max_batch: int) -> None:
        self._buffers: dict[str, npt.NDArray[Any]] = {}
        for im in models:
            spec = im.model.spec.input
            if spec is not None:
                dtype = np.uint8 if spec.dtype == "uint8" else np.float32
                self._buffers[im.model.name] = np.empty(spec.shape(max_batch), dtype=dtype)

    def fill(self, batch: Sequence[Prepared]) -> dict[str, npt.NDArray[Any]]:
        """Each model's inputs for ``batch``, in batch order: views of the buffers, valid until the next fill."""
        feeds: dict[str, npt.NDArray[Any]] = {}
        for model, buffer in self._buffers.items():
            for i, item in enumerate(batch):
                np.copyto(buffer[i], item.inputs[model].tensor)
            feeds[model] = buffer[: len(batch)]
        return feeds

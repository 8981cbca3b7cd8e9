"""The sequence stage: one step of the sequence model for a batch, each stream's state carried over.

The per-frame model's embedding rows are the features; each frame's hidden state is gathered from
the :class:`~streamer.temporal.StateStore` into a preallocated ``[L, max_batch, H]`` buffer, the
model runs one step, and the new state is scattered back. Cost per frame is O(1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.modelset import SequenceModel
from streamer.postprocess import softmax, top_k
from streamer.records import FrameInfo, SequenceOutput
from streamer.runtime import Model
from streamer.temporal import StateStore

Outputs = dict[str, npt.NDArray[Any]]
RunModel = Callable[[Model, dict[str, npt.NDArray[Any]], int], Outputs]


class SequenceStep:
    """Owns the sequence model's per-stream state; called by the inference thread alone."""

    def __init__(self, seq: SequenceModel, max_batch: int, reset_gap_s: float) -> None:
        spec = seq.model.spec
        if spec.state is None or spec.features_input is None:
            raise ValueError(f"model {seq.model.name} is not a one-step sequence model")
        self.seq = seq
        self.state = StateStore(spec.state.layers, spec.state.size, reset_gap_s)
        self._h = np.zeros((spec.state.layers, max_batch, spec.state.size), dtype=np.float32)

    def __call__(self, infos: Sequence[FrameInfo], features: npt.NDArray[Any], run: RunModel) -> list[SequenceOutput]:
        """Step every frame's stream once with its ``features`` row; ``run`` times the model run."""
        model, spec = self.seq.model, self.seq.model.spec
        assert spec.state is not None and spec.features_input is not None  # checked in __init__
        n = len(infos)
        steps = self.state.gather(infos, self._h)
        feeds = {
            spec.features_input: np.ascontiguousarray(features, dtype=np.float32),
            spec.state.input: np.ascontiguousarray(self._h[:, :n]),
        }
        out = run(model, feeds, n)
        self.state.scatter(infos, out[spec.state.output], steps)
        probs = softmax(out[spec.outputs["logits"]].astype(np.float32))
        outputs: list[SequenceOutput] = []
        for i in range(n):
            best = top_k(probs[i], spec.labels, 1)[0]
            outputs.append(SequenceOutput(model.name, best.label, best.score, steps[i] + 1))
        return outputs

"""The inference thread: batches from the batcher through every model, results to the publisher.

Per batch, in stages: copy the prepared inputs into the batch buffers (:mod:`streamer.batch_inputs`)
and hand the per-frame buffers back at once, run each per-frame model, step the sequence model
(:mod:`streamer.sequence_step`), then turn each frame's outputs into a Result
(:mod:`streamer.interpret`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy.typing as npt

from streamer.batch_inputs import BatchInputs
from streamer.batchcost import BatchCost
from streamer.batcher import Batcher
from streamer.config import PipelineConfig
from streamer.interpret import model_output
from streamer.modelset import ModelSet, calibrate
from streamer.records import Prepared, Result, SequenceOutput
from streamer.runtime import Model
from streamer.sequence_step import SequenceStep

logger = logging.getLogger(__name__)

# Test-only hook: the inference loop stops beating after this many seconds (watchdog tests).
STALL_ENV = "STREAMER_TEST_STALL_INFERENCE_AFTER"


class InferenceEvents(Protocol):
    def inferred(self, model: str, seconds: float, batch: int) -> None: ...
    def processed(self, stream: str) -> None: ...
    def dropped(self, stream: str, reason: str) -> None: ...


class InferenceWorker(threading.Thread):
    """Owns the models' sessions, batch buffers and sequence state; one per pipeline."""

    def __init__(
        self,
        models: ModelSet,
        batcher: Batcher,
        cfg: PipelineConfig,
        sink: Callable[[Result], None],
        events: InferenceEvents,
    ) -> None:
        super().__init__(name="inference", daemon=True)
        self.models = models
        self.batcher = batcher
        self.cfg = cfg
        self._sink = sink
        self._events = events
        self.stop_event = threading.Event()
        self.heartbeat = time.monotonic()
        self._run_seconds = 0.0  # model time of the batch in progress
        self._inputs = BatchInputs(models.image, cfg.max_batch)
        self.sequence: SequenceStep | None = None
        if models.sequence is not None:
            self.sequence = SequenceStep(models.sequence, cfg.max_batch, cfg.state_reset_gap_s)
        # What batching saves, refined by every batch (see batchcost); only "auto" waits by it.
        self.cost = calibrate(models.all(), cfg.max_batch) if cfg.batch_wait == "auto" else BatchCost()
        stall = os.environ.get(STALL_ENV)
        self._stall_at = time.monotonic() + float(stall) if stall else None

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.heartbeat = time.monotonic()
            if self._stall_at is not None and self.heartbeat > self._stall_at:
                logger.warning("inference stalled on purpose (%s)", STALL_ENV)
                self.stop_event.wait()
                return
            patience = self.cost.patience if self.cfg.batch_wait == "auto" else None
            batch = self.batcher.take(self.cfg.max_batch, self.cfg.batch_deadline_ms / 1000.0, 0.25, patience)
            if not batch:
                continue
            try:
                results = self.process(batch)
            except Exception:  # a failing batch must not kill the loop; its frames are counted lost
                logger.exception("inference failed on a batch of %d", len(batch))
                for item in batch:
                    self._events.dropped(item.info.stream, "error")
                continue
            for result in results:
                self._events.processed(result.info.stream)
                self._sink(result)

    def _run_model(self, model: Model, feeds: dict[str, npt.NDArray[Any]], n: int) -> dict[str, npt.NDArray[Any]]:
        t0 = time.perf_counter()
        out = model.run(feeds)
        seconds = time.perf_counter() - t0
        self._run_seconds += seconds
        self._events.inferred(model.name, seconds, n)
        return out

    def process(self, batch: list[Prepared]) -> list[Result]:
        """Run one batch through every model; returns one Result per frame, in batch order."""
        n = len(batch)
        self._run_seconds = 0.0
        feeds = self._inputs.fill(batch)
        infos = [item.info for item in batch]
        transforms = [{name: inp.transform for name, inp in item.inputs.items()} for item in batch]
        for item in batch:
            # The batch buffers hold copies now; capture may reuse these buffers or slots.
            self.batcher.release(item)
        raw: dict[str, dict[str, npt.NDArray[Any]]] = {}
        for im in self.models.image:
            spec = im.model.spec
            name = spec.input.name if spec.input else ""
            raw[im.model.name] = self._run_model(im.model, {name: feeds[im.model.name]}, n)
        sequence: list[SequenceOutput | None] = [None] * n
        if self.sequence is not None:
            source = self.sequence.seq.features_from
            features = raw[source][self._embedding_output(source)]
            sequence = list(self.sequence(infos, features, self._run_model))
        results: list[Result] = []
        for i, info in enumerate(infos):
            size = (info.width, info.height)
            outputs = tuple(
                model_output(im, raw[im.model.name], i, transforms[i][im.model.name], size) for im in self.models.image
            )
            results.append(Result(info, outputs, sequence[i]))
        self.cost.observe(n, self._run_seconds)
        return results

    def _embedding_output(self, model: str) -> str:
        source = next(im for im in self.models.image if im.model.name == model)
        return source.model.spec.outputs["embedding"]

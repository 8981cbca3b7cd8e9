"""The inference thread: batches from the batcher through every model, results to the publisher.

Per batch, in stages: copy the prepared inputs into the batch buffers (:mod:`streamer.batch_inputs`)
and hand the per-frame buffers back at once, run each per-frame model, step the sequence model
(:mod:`streamer.sequence_step`), turn each frame's outputs into model outputs
(:mod:`streamer.interpret`), give detections their track ids (:mod:`streamer.tracks`), step the
per-object sequence model over the tracked objects (:mod:`streamer.object_sequence`), then make
each frame's Result.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy.typing as npt

from streamer.batch_inputs import BatchInputs
from streamer.batchcost import BatchCost
from streamer.batcher import Batcher
from streamer.config import PipelineConfig, TrackingConfig
from streamer.interpret import model_output
from streamer.modelset import ModelSet, calibrate
from streamer.object_sequence import ObjectSequenceStep
from streamer.records import DropReason, FrameInfo, ModelOutput, Prepared, Result, SequenceOutput, Transform
from streamer.runtime import Model
from streamer.sequence_step import SequenceStep
from streamer.tracks import TrackChange, TrackStage, track_params

logger = logging.getLogger(__name__)

# Test-only hook: the inference loop stops beating after this many seconds (watchdog tests).
STALL_ENV = "STREAMER_TEST_STALL_INFERENCE_AFTER"


class InferenceEvents(Protocol):
    def inferred(self, model: str, seconds: float, batch: int) -> None: ...
    def processed(self, stream: str) -> None: ...
    def dropped(self, stream: str, reason: DropReason) -> None: ...
    def tracked(self, stream: str, alive: int, started: int, ended: int) -> None: ...
    def object_steps(self, stream: str, steps: int) -> None: ...


class InferenceWorker(threading.Thread):
    """Owns the models' sessions, batch buffers and sequence state; one per pipeline."""

    def __init__(
        self,
        models: ModelSet,
        batcher: Batcher,
        cfg: PipelineConfig,
        sink: Callable[[Result], None],
        events: InferenceEvents,
        *,
        tracking: TrackingConfig | None = None,
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
        self.objects: ObjectSequenceStep | None = None
        seq = models.sequence
        if seq is not None and seq.objects_from is not None:
            features = next(im for im in models.image if im.model.name == seq.features_from)
            self.objects = ObjectSequenceStep(seq, features, cfg.max_batch)
        elif seq is not None:
            self.sequence = SequenceStep(seq, cfg.max_batch, cfg.state_reset_gap_s)
        tracking = tracking or TrackingConfig()
        detectors = [im.model.name for im in models.image if im.model.spec.kind == "detector"]
        self.tracks: TrackStage | None = None
        if tracking.enabled and detectors:
            self.tracks = TrackStage(detectors, track_params(tracking))
        self._forgotten: deque[str] = deque()  # streams removed, appended by other threads
        # What batching saves, refined by every batch (see batchcost); only "auto" waits by it.
        self.cost = calibrate(models.all(), cfg.max_batch) if cfg.batch_wait == "auto" else BatchCost()
        stall = os.environ.get(STALL_ENV)
        self._stall_at = time.monotonic() + float(stall) if stall else None

    def stop(self) -> None:
        self.stop_event.set()

    def forget_stream(self, stream: str) -> None:
        """End a removed stream's tracks and states (applied by the inference thread before its next batch)."""
        self._forgotten.append(stream)

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
                    self._events.dropped(item.info.stream, DropReason.ERROR)
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

    def _run_objects(self, model: Model, feeds: dict[str, npt.NDArray[Any]], n: int) -> dict[str, npt.NDArray[Any]]:
        """A run over tracked objects: timed in the metrics, but not a frame batch's cost (see batchcost)."""
        t0 = time.perf_counter()
        out = model.run(feeds)
        self._events.inferred(model.name, time.perf_counter() - t0, n)
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
        outputs: list[tuple[ModelOutput, ...]] = []
        for i, info in enumerate(infos):
            size = (info.width, info.height)
            outputs.append(
                tuple(
                    model_output(im, raw[im.model.name], i, transforms[i][im.model.name], size)
                    for im in self.models.image
                )
            )
        self.cost.observe(n, self._run_seconds)
        outputs = self._objects(infos, outputs, feeds, transforms)
        return [Result(info, outputs[i], sequence[i]) for i, info in enumerate(infos)]

    def _objects(
        self,
        infos: list[FrameInfo],
        outputs: list[tuple[ModelOutput, ...]],
        feeds: dict[str, npt.NDArray[Any]],
        transforms: Sequence[dict[str, Transform]],
    ) -> list[tuple[ModelOutput, ...]]:
        """Track the detections of every frame, then step the per-object sequence model over the tracks."""
        while self._forgotten:
            stream = self._forgotten.popleft()
            if self.sequence is not None:
                self.sequence.state.forget(stream)
            if self.tracks is not None:
                self._ended(self.tracks.forget(stream))
        if self.tracks is None:
            return outputs
        for i, info in enumerate(infos):
            tracked = self.tracks(info, outputs[i])
            outputs[i] = tracked.outputs
            started = sum(len(c.started) for c in tracked.changes)
            ended = self._ended(tracked.changes)
            self._events.tracked(info.stream, tracked.alive, started, ended)
        if self.objects is None:
            return outputs
        source = self.objects.seq.features_from
        images = feeds[source]
        outputs, steps = self.objects(infos, outputs, images, [t[source] for t in transforms], self._run_objects)
        for stream, count in steps.items():
            self._events.object_steps(stream, count)
        return outputs

    def _ended(self, changes: Sequence[TrackChange]) -> int:
        """Drop the per-object states of ended tracks; returns how many tracks ended."""
        ended = 0
        for change in changes:
            ended += len(change.ended)
            if self.objects is not None and change.model == self.objects.seq.objects_from:
                self.objects.end(change.stream, change.ended)
        return ended

    def _embedding_output(self, model: str) -> str:
        source = next(im for im in self.models.image if im.model.name == model)
        return source.model.spec.outputs["embedding"]

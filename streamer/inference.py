"""The inference thread: batches from the batcher through every model, results to the publisher.

Per batch: copy inputs into preallocated batch buffers (and hand the per-frame buffers back at
once), run each per-frame model, then the sequence model one step with each stream's hidden
state gathered into the batch and scattered back, then postprocess into Result records.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from streamer.batchcost import BatchCost
from streamer.batcher import Batcher
from streamer.config import ModelConfig, PipelineConfig
from streamer.postprocess import DetectorParams, classify, detect, softmax, top_k
from streamer.prepare import copy_into
from streamer.records import FrameInfo, ModelOutput, Prepared, Result, SequenceOutput, Transform
from streamer.runtime import Model, warmup_feeds
from streamer.temporal import StateStore

logger = logging.getLogger(__name__)

# Test-only hook: the inference loop stops beating after this many seconds (watchdog tests).
STALL_ENV = "STREAMER_TEST_STALL_INFERENCE_AFTER"


CALIBRATION_RUNS = 3


def calibrate(models: list[Model], max_batch: int) -> BatchCost:
    """A first batch cost line: every model together at batch 1 and ``max_batch``, median of a few runs."""
    cost = BatchCost()
    for n in sorted({1, max_batch}):
        feeds = [(model, warmup_feeds(model.spec, n)) for model in models]
        runs = []
        for _ in range(CALIBRATION_RUNS):
            t0 = time.perf_counter()
            for model, feed in feeds:
                model.run(feed)
            runs.append(time.perf_counter() - t0)
        cost.observe(n, statistics.median(runs))
    return cost


@dataclass(frozen=True)
class ImageModel:
    """A per-frame model with its postprocessing settings."""

    model: Model
    cfg: ModelConfig


@dataclass(frozen=True)
class SequenceModel:
    """The one-step sequence model and the per-frame model whose embedding feeds it."""

    model: Model
    features_from: str


@dataclass(frozen=True)
class ModelSet:
    image: tuple[ImageModel, ...]
    sequence: SequenceModel | None

    def all(self) -> list[Model]:
        models = [m.model for m in self.image]
        return models + ([self.sequence.model] if self.sequence else [])


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
        self._buffers: dict[str, npt.NDArray[Any]] = {}
        for im in models.image:
            spec = im.model.spec.input
            if spec is not None:
                dtype = np.uint8 if spec.dtype == "uint8" else np.float32
                self._buffers[im.model.name] = np.empty(spec.shape(cfg.max_batch), dtype=dtype)
        self.state: StateStore | None = None
        self._h: npt.NDArray[np.float32] | None = None
        if models.sequence is not None and models.sequence.model.spec.state is not None:
            st = models.sequence.model.spec.state
            self.state = StateStore(st.layers, st.size, cfg.state_reset_gap_s)
            self._h = np.zeros((st.layers, cfg.max_batch, st.size), dtype=np.float32)
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
        feeds: dict[str, npt.NDArray[Any]] = {}
        for im in self.models.image:
            feeds[im.model.name] = copy_into(self._buffers[im.model.name], batch, im.model.name)
        infos = [item.info for item in batch]
        transforms = [{name: inp.transform for name, inp in item.inputs.items()} for item in batch]
        for item in batch:
            # The batch buffers hold copies now; the capture threads may reuse these slots.
            self.batcher.release(item)
        raw: dict[str, dict[str, npt.NDArray[Any]]] = {}
        for im in self.models.image:
            spec = im.model.spec
            name = spec.input.name if spec.input else ""
            raw[im.model.name] = self._run_model(im.model, {name: feeds[im.model.name]}, n)
        sequence = self._sequence(infos, raw) if self.models.sequence else [None] * n
        results: list[Result] = []
        for i, info in enumerate(infos):
            outputs = tuple(
                self._postprocess(im, raw[im.model.name], i, transforms[i], info) for im in self.models.image
            )
            results.append(Result(info, outputs, sequence[i]))
        self.cost.observe(n, self._run_seconds)
        return results

    def _sequence(
        self, infos: list[FrameInfo], raw: dict[str, dict[str, npt.NDArray[Any]]]
    ) -> list[SequenceOutput | None]:
        seq = self.models.sequence
        if seq is None or self.state is None or self._h is None:
            return [None] * len(infos)
        spec = seq.model.spec
        source = next(im for im in self.models.image if im.model.name == seq.features_from)
        emb_name = source.model.spec.outputs["embedding"]
        feats = np.ascontiguousarray(raw[seq.features_from][emb_name], dtype=np.float32)
        n = len(infos)
        steps = self.state.gather(infos, self._h)
        h_in = np.ascontiguousarray(self._h[:, :n])
        state = spec.state
        if state is None or spec.features_input is None:
            return [None] * n
        out = self._run_model(seq.model, {spec.features_input: feats, state.input: h_in}, n)
        self.state.scatter(infos, out[state.output], steps)
        probs = softmax(out[spec.outputs["logits"]].astype(np.float32))
        labels = spec.labels
        outputs: list[SequenceOutput | None] = []
        for i in range(n):
            best = top_k(probs[i], labels, 1)[0]
            outputs.append(SequenceOutput(seq.model.name, best.label, best.score, steps[i] + 1))
        return outputs

    def _postprocess(
        self,
        im: ImageModel,
        raw: dict[str, npt.NDArray[Any]],
        i: int,
        transforms: dict[str, Transform],
        info: FrameInfo,
    ) -> ModelOutput:
        spec, cfg, name = im.model.spec, im.cfg, im.model.name
        embedding = None
        emb_name = spec.output("embedding")
        if emb_name is not None and (cfg.publish_embedding or spec.kind == "embedding"):
            embedding = tuple(round(float(v), 6) for v in raw[emb_name][i].reshape(-1))
        if spec.kind == "classifier":
            logits = raw[spec.outputs["logits"]][i].astype(np.float32).reshape(-1)
            top = classify(logits, spec, cfg.top_k, cfg.confidence)
            return ModelOutput(name, spec.kind, top=top, embedding=embedding)
        if spec.kind == "detector":
            params = DetectorParams(cfg.confidence, cfg.iou, cfg.max_detections)
            boxes = raw[spec.outputs["boxes"]][i].astype(np.float32)
            dets = detect(boxes, spec, transforms[name], (info.width, info.height), params)
            return ModelOutput(name, spec.kind, detections=dets)
        return ModelOutput(name, spec.kind, embedding=embedding)

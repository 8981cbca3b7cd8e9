"""Each part of the frame path measured alone: decode, preprocess, inference by batch size, JSON.

All figures come from the clip and models the daemon will run, on this machine, in this process;
the slowest resource alone is the pipeline's limit (DESIGN.md, "Performance model").
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from streamer.batcher import Batcher, Policy
from streamer.bench.records import InferencePoint
from streamer.codec import encode_result
from streamer.config import CaptureConfig, Decoder, PipelineConfig
from streamer.errors import ConfigError
from streamer.inference import InferenceWorker
from streamer.modelset import ModelSet
from streamer.modelspec import InputSpec
from streamer.picture import Picture, frame_of, picture_size
from streamer.prepare import FramePreparer
from streamer.records import DropReason, Frame, FrameInfo, Image, Result
from streamer.runtime import Model, warmup_feeds
from streamer.sources import Source, SourceKind, open_capture, retrieve

KEEP_FRAMES = 64  # decoded frames kept for the preprocessing and inference measurements

FrameWork = Callable[[Picture, int], None]  # per-frame work after decoding: (picture, frame number)


def _open(clip: str, decoder: Decoder = "pyav") -> Any:
    cap = open_capture(Source(SourceKind.FILE, clip, clip), CaptureConfig(decoder=decoder))
    if cap is None:
        raise ConfigError(f"bench: cannot open clip {clip}")
    return cap


def _next(cap: Any, whole_bgr: bool) -> Picture | None:
    """The next frame as capture takes it (``retrieve``: planes where the decoder gives them), or
    ``read()``'s whole-frame BGR; None at the end of the clip."""
    if whole_bgr:
        ok, image = cap.read()
        return cast(Image, image) if ok else None
    return retrieve(cap) if cap.grab() else None


def decode(clip: str, seconds: float, decoder: Decoder = "pyav") -> tuple[float, list[Picture]]:
    """Frames/s of decoding as capture does (grab + retrieve) on one thread, and the first frames decoded."""
    kept: list[Picture] = []
    count = 0
    cap = _open(clip, decoder)
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            picture = _next(cap, whole_bgr=False)
            if picture is None:
                if count == 0:
                    raise ConfigError(f"bench: no decodable frames in {clip}")
                cap.release()
                cap = _open(clip, decoder)  # loop the clip; reopening is part of the cost, as in the daemon
                continue
            count += 1
            if len(kept) < KEEP_FRAMES:
                kept.append(picture)
    finally:
        cap.release()
    return count / (time.perf_counter() - start), kept


def frame_size(clip: str, decoder: Decoder = "pyav") -> tuple[int, int]:
    """The first frame's (width, height); ConfigError if none decodes."""
    cap = _open(clip, decoder)
    try:
        picture = _next(cap, whole_bgr=False)
    finally:
        cap.release()
    if picture is None:
        raise ConfigError(f"bench: no decodable frames in {clip}")
    return picture_size(picture)


def bench_frame(picture: Picture, seq: int) -> Frame:
    """A frame of the bench's one stream, as capture would hand it on."""
    w, h = picture_size(picture)
    return frame_of(FrameInfo("bench", seq, 0, time.time(), time.monotonic(), w, h), picture)


class _Prepare:
    """Per-frame work of the capture side: prepare every image model's input (one per thread)."""

    def __init__(self, specs: Mapping[str, InputSpec]) -> None:
        self.preparer = FramePreparer(specs)

    def __call__(self, picture: Picture, seq: int) -> None:
        self.preparer.release(self.preparer(bench_frame(picture, seq)))


def preprocess(specs: Mapping[str, InputSpec], frames: Sequence[Picture], seconds: float) -> float:
    """Milliseconds per frame to prepare the inputs of every image model, on one thread."""
    prepare = _Prepare(specs)
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for picture in frames:
            prepare(picture, count)
            count += 1
    return (time.perf_counter() - start) * 1000.0 / max(count, 1)


@dataclass(frozen=True)
class ReadPlan:
    """How each thread of :func:`_read_on_threads` reads: which decoder, and whether as capture
    does or as ``read()`` (decode + whole-frame BGR conversion)."""

    decoder: Decoder = "pyav"
    whole_bgr: bool = False


def _read_on_threads(
    clip: str, threads: int, seconds: float, work: Callable[[], FrameWork] | None, plan: ReadPlan
) -> float:
    """Aggregate frames/s of decoding on ``threads`` threads at once, each its own capture of the clip.

    ``work`` makes each thread's per-frame work (called with the picture and its number); None decodes only.
    """
    counts = [0] * threads
    stop = threading.Event()

    def loop(i: int) -> None:
        per_frame = work() if work is not None else None
        cap = _open(clip, plan.decoder)
        try:
            while not stop.is_set():
                picture = _next(cap, plan.whole_bgr)
                if picture is None:
                    cap.release()
                    cap = _open(clip, plan.decoder)  # loop the clip, as decode() does
                    continue
                if per_frame is not None:
                    per_frame(picture, counts[i])
                counts[i] += 1
        finally:
            cap.release()

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def decode_alone(clip: str, threads: int, seconds: float, decoder: Decoder = "pyav") -> float:
    """Aggregate frames/s of decoding as capture does, alone (no preprocessing), on ``threads`` threads.

    The pipeline with N streams is compared with this on N threads: what decoding alone allows.
    With PyAV that is the decoder's planes, before any colour conversion.
    """
    return _read_on_threads(clip, threads, seconds, None, ReadPlan(decoder))


def opencv_read_alone(clip: str, threads: int, seconds: float) -> float:
    """The same with OpenCV's ``read()`` (decode + whole-frame BGR conversion): the common baseline."""
    return _read_on_threads(clip, threads, seconds, None, ReadPlan("opencv", whole_bgr=True))


def capture(
    clip: str, specs: Mapping[str, InputSpec], threads: int, seconds: float, decoder: Decoder = "pyav"
) -> float:
    """Aggregate frames/s of decode + preprocess with ``threads`` threads at once (the capture side)."""
    return _read_on_threads(clip, threads, seconds, partial(_Prepare, specs), ReadPlan(decoder))


def _image_feeds(model: Model, batch: int, rng: np.random.Generator) -> dict[str, npt.NDArray[Any]]:
    feeds = warmup_feeds(model.spec, batch)
    for name, value in feeds.items():
        if value.dtype == np.uint8:
            feeds[name] = rng.integers(0, 256, value.shape, dtype=np.uint8)
        else:
            feeds[name] = rng.standard_normal(value.shape, dtype=np.float32)
    return feeds


def _one_batch(models: ModelSet, feeds: Mapping[str, dict[str, npt.NDArray[Any]]], batch: int) -> None:
    embeddings: dict[str, npt.NDArray[Any]] = {}
    for im in models.image:
        out = im.model.run(feeds[im.model.name])
        emb = im.model.spec.output("embedding")
        if emb is not None:
            embeddings[im.model.name] = out[emb]
    seq = models.sequence
    if seq is not None:
        spec = seq.model.spec
        step = dict(feeds[seq.model.name])
        if spec.features_input is not None:
            step[spec.features_input] = np.ascontiguousarray(embeddings[seq.features_from], dtype=np.float32)
        seq.model.run(step)


def inference(models: ModelSet, batches: Sequence[int], seconds: float) -> tuple[InferencePoint, ...]:
    """Every model at each batch size (per-frame models, then the sequence step fed their embedding).

    Batch sizes are interleaved (a few runs of each, round after round) so a burst of load from
    elsewhere on the machine hits them all alike instead of spoiling one.
    """
    rng = np.random.default_rng(0)
    feeds = {b: {m.name: _image_feeds(m, b, rng) for m in models.all()} for b in batches}
    for b in batches:
        _one_batch(models, feeds[b], b)  # first run at a new shape allocates; keep it out
    times: dict[int, list[float]] = {b: [] for b in batches}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or min(len(t) for t in times.values()) < 5:
        for b in batches:
            for _ in range(3):
                t0 = time.perf_counter()
                _one_batch(models, feeds[b], b)
                times[b].append(time.perf_counter() - t0)
    points = []
    for b in batches:
        median = statistics.median(times[b])
        points.append(InferencePoint(b, round(median * 1000.0, 3), round(b / median, 1)))
    return tuple(points)


class _NoEvents:
    def inferred(self, model: str, seconds: float, batch: int) -> None:
        pass

    def processed(self, stream: str) -> None:
        pass

    def dropped(self, stream: str, reason: DropReason) -> None:
        pass

    def tracked(self, stream: str, alive: int, started: int, ended: int) -> None:
        pass

    def object_steps(self, stream: str, steps: int) -> None:
        pass


def sample_results(models: ModelSet, specs: Mapping[str, InputSpec], frames: Sequence[Picture]) -> list[Result]:
    """Real results for a batch of frames, produced by the daemon's own inference code."""
    batcher = Batcher(on_drop=lambda _s, _r: None)
    preparer = FramePreparer(specs)
    batcher.register("bench", Policy.WAIT, preparer.release)
    worker = InferenceWorker(models, batcher, PipelineConfig(max_batch=len(frames)), lambda _r: None, _NoEvents())
    items = [preparer(bench_frame(picture, i)) for i, picture in enumerate(frames)]
    return worker.process(items)


def json_encoding(results: Sequence[Result], seconds: float) -> float:
    """Microseconds to encode one result message."""
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for r in results:
            encode_result(r, 0.01)
            count += 1
    return (time.perf_counter() - start) * 1e6 / max(count, 1)

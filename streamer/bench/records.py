"""What ``streamer bench`` measures, as frozen records, and the capacity arithmetic on them.

The machine's limit is its slowest resource, each measured alone in the same run (DESIGN.md,
"Performance model"): decode on as many threads as the pipeline has streams, and inference at its
best batch size. They run on different resources at once, so the limit is the smaller of the two,
not the sum of their times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from streamer.batchcost import CostLine, fit_line

CAMERA_FPS = 25.0


class Resource(StrEnum):
    """A resource the machine's limit can come from (``limited_by`` in the JSON report)."""

    DECODE = "decode"
    INFERENCE = "inference"


@dataclass(frozen=True)
class InferencePoint:
    """Every model of the set (per-frame models, then the sequence step) at one batch size."""

    batch: int
    batch_ms: float  # median wall time of one batch through all models
    fps: float  # frames per second at this batch size


@dataclass(frozen=True)
class DecodePoint:
    """Decode alone on ``threads`` threads at once, each its own capture of the clip."""

    threads: int
    fps: float  # aggregate frames/s, all threads together, decoding as capture does (the limit)
    # OpenCV's read() (decode + whole-frame BGR conversion) on as many threads: the common baseline.
    # Capture with PyAV converts only the model-sized input, so the pipeline can pass it.
    opencv_fps: float = 0.0


@dataclass(frozen=True)
class Limit:
    """The machine's limit for one stream count: its slowest resource, measured alone."""

    fps: float
    limited_by: Resource


def fraction_of_limit(fps: float, limit: Limit) -> float | None:
    """``fps`` over the limit; None when the limit measured nothing (no frame decoded in time)."""
    return fps / limit.fps if limit.fps > 0 else None


def slowest(decode_fps: float, inference_fps: float) -> Limit:
    """The smaller of the two rates; a tie is put on decode (the resource that scales with streams)."""
    if decode_fps <= inference_fps:
        return Limit(decode_fps, Resource.DECODE)
    return Limit(inference_fps, Resource.INFERENCE)


@dataclass(frozen=True)
class PipelinePoint:
    """The whole daemon pipeline with ``streams`` file streams played offline (or paced)."""

    streams: int
    fps: float  # results published per second, all streams together
    latency_p50_ms: float
    latency_p99_ms: float
    mean_batch: float
    dropped: int
    cpu_percent: float  # CPU time of the process and its capture processes over wall time (200 = two cores busy)
    model_ms: float = 0.0  # mean time of one model run on a batch (over every model)


@dataclass(frozen=True)
class StageFigures:
    """Each part of the frame path measured alone, on the same clip and models."""

    decode_fps: float  # one thread, grab + retrieve
    preprocess_ms: float  # one thread, per frame, every image model
    capture_fps: float  # decode + preprocess on ``capture_threads`` threads at once, aggregate
    capture_threads: int
    json_us: float  # encoding one result message
    inference: tuple[InferencePoint, ...]
    decode_alone: tuple[DecodePoint, ...] = ()  # one point per thread count (= pipeline stream count)

    @property
    def best(self) -> InferencePoint:
        return max(self.inference, key=lambda p: p.fps)

    def batch_cost(self) -> CostLine | None:
        """The batch cost line through these figures (what ``batch_wait = "auto"`` waits by)."""
        return fit_line({p.batch: p.batch_ms / 1000.0 for p in self.inference})

    def decode_alone_fps(self, threads: int) -> float:
        """Decode alone on ``threads`` threads; ValueError if that count was not measured."""
        for p in self.decode_alone:
            if p.threads == threads:
                return p.fps
        raise ValueError(f"bench: decode alone was not measured on {threads} thread(s)")

    def opencv_read_fps(self, threads: int) -> float:
        """OpenCV's ``read()`` alone on ``threads`` threads (0 when not measured)."""
        return next((p.opencv_fps for p in self.decode_alone if p.threads == threads), 0.0)

    def limit(self, streams: int) -> Limit:
        """The machine's limit with ``streams`` streams: decode alone on that many threads, or inference."""
        return slowest(self.decode_alone_fps(streams), self.best.fps)


@dataclass(frozen=True)
class BenchReport:
    """One ``streamer bench`` run."""

    machine: str
    clip: str
    frame_size: tuple[int, int]
    models: tuple[str, ...]
    stages: StageFigures
    pipeline: tuple[PipelinePoint, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def best_pipeline(self) -> PipelinePoint | None:
        return max(self.pipeline, key=lambda p: p.fps) if self.pipeline else None

    @property
    def limit_streams(self) -> int | None:
        """The stream count the headline limit is for: the largest one run, else the most decode threads."""
        if self.pipeline:
            return max(p.streams for p in self.pipeline)
        if self.stages.decode_alone:
            return max(p.threads for p in self.stages.decode_alone)
        return None

    @property
    def limit(self) -> Limit | None:
        """The machine's limit at :attr:`limit_streams`."""
        n = self.limit_streams
        return None if n is None else self.stages.limit(n)

    @property
    def ratio(self) -> float | None:
        """Pipeline throughput over the machine's limit, at the largest stream count run."""
        if not self.pipeline:
            return None
        top = max(self.pipeline, key=lambda p: p.streams)
        return fraction_of_limit(top.fps, self.stages.limit(top.streams))

    @property
    def cameras(self) -> int:
        """25 fps cameras this box sustains: the best measured throughput (the limit if no pipeline run)."""
        best = self.best_pipeline
        limit = self.limit
        if best is not None:
            fps = best.fps
        elif limit is not None:
            fps = limit.fps
        else:
            fps = self.stages.best.fps
        return int(fps // CAMERA_FPS)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["stages"]["best_batch"] = self.stages.best.batch
        out["stages"]["inference_best_fps"] = self.stages.best.fps
        line = self.stages.batch_cost()
        out["stages"]["batch_per_run_ms"] = None if line is None else round(line.per_run * 1000.0, 4)
        out["stages"]["batch_per_frame_ms"] = None if line is None else round(line.per_frame * 1000.0, 4)
        for point, entry in zip(self.pipeline, out["pipeline"], strict=True):
            limit = self.stages.limit(point.streams)
            entry["limit_fps"] = limit.fps
            entry["limited_by"] = str(limit.limited_by)
            share = fraction_of_limit(point.fps, limit)
            entry["ratio"] = None if share is None else round(share, 3)
            baseline = self.stages.opencv_read_fps(point.streams)
            entry["ratio_to_opencv_read"] = round(point.fps / baseline, 3) if baseline > 0 else None
        top = self.limit
        out["limit_streams"] = self.limit_streams
        out["limit_fps"] = None if top is None else top.fps
        out["limited_by"] = None if top is None else str(top.limited_by)
        out["ratio_to_limit"] = None if self.ratio is None else round(self.ratio, 3)
        out["cameras_at_25fps"] = self.cameras
        return out

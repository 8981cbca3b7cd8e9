"""What ``streamer bench`` measures, as frozen records, and the capacity arithmetic on them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streamer.batchcost import CostLine, fit_line

CAMERA_FPS = 25.0


@dataclass(frozen=True)
class InferencePoint:
    """Every model of the set (per-frame models, then the sequence step) at one batch size."""

    batch: int
    batch_ms: float  # median wall time of one batch through all models
    fps: float  # frames per second at this batch size


@dataclass(frozen=True)
class PipelinePoint:
    """The whole daemon pipeline with ``streams`` file streams played offline (or paced)."""

    streams: int
    fps: float  # results published per second, all streams together
    latency_p50_ms: float
    latency_p99_ms: float
    mean_batch: float
    dropped: int
    cpu_percent: float  # process CPU time over wall time (200 = two cores busy)


@dataclass(frozen=True)
class StageFigures:
    """Each part of the frame path measured alone, on the same clip and models."""

    decode_fps: float  # one thread, grab + retrieve
    preprocess_ms: float  # one thread, per frame, every image model
    capture_fps: float  # decode + preprocess on ``capture_threads`` threads at once, aggregate
    capture_threads: int
    json_us: float  # encoding one result message
    inference: tuple[InferencePoint, ...]

    @property
    def best(self) -> InferencePoint:
        return max(self.inference, key=lambda p: p.fps)

    def batch_cost(self) -> CostLine | None:
        """The batch cost line through these figures (what ``batch_wait = "auto"`` waits by)."""
        return fit_line({p.batch: p.batch_ms / 1000.0 for p in self.inference})

    @property
    def bound_fps(self) -> float:
        """Sum of parts: capture work spread over the cores, then inference at its best batch size."""
        return 1.0 / (1.0 / self.capture_fps + 1.0 / self.best.fps)


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
    def ratio(self) -> float | None:
        """Best pipeline throughput over the sum-of-parts bound."""
        best = self.best_pipeline
        return None if best is None else best.fps / self.stages.bound_fps

    @property
    def cameras(self) -> int:
        """25 fps cameras this box sustains: the best measured throughput (the bound if no pipeline run)."""
        best = self.best_pipeline
        fps = best.fps if best is not None else self.stages.bound_fps
        return int(fps // CAMERA_FPS)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["stages"]["bound_fps"] = round(self.stages.bound_fps, 1)
        out["stages"]["best_batch"] = self.stages.best.batch
        line = self.stages.batch_cost()
        out["stages"]["batch_per_run_ms"] = None if line is None else round(line.per_run * 1000.0, 4)
        out["stages"]["batch_per_frame_ms"] = None if line is None else round(line.per_frame * 1000.0, 4)
        out["ratio_to_bound"] = None if self.ratio is None else round(self.ratio, 3)
        out["cameras_at_25fps"] = self.cameras
        return out

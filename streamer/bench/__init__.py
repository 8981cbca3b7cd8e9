"""``streamer bench``: how many cameras this box runs with these models, and how close to its limit.

Measures each part of the frame path alone (decode on N threads, preprocess, inference by batch
size, JSON), then the whole pipeline with N streams, in one process on one machine. The machine's
limit with N streams is its slowest resource alone: decode on N threads or inference at its best
batch. The report gives each run's ratio to that limit and the number of 25 fps cameras it sustains.
"""

from __future__ import annotations

from streamer.bench.records import (
    BenchReport,
    DecodePoint,
    InferencePoint,
    Limit,
    PipelinePoint,
    Resource,
    StageFigures,
)
from streamer.bench.report import format_report
from streamer.bench.run import BenchOptions, bench_from_args, run_bench

__all__ = [
    "BenchOptions",
    "BenchReport",
    "DecodePoint",
    "InferencePoint",
    "Limit",
    "PipelinePoint",
    "Resource",
    "StageFigures",
    "bench_from_args",
    "format_report",
    "run_bench",
]

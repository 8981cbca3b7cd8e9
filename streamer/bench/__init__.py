"""``streamer bench``: how many cameras this box runs with these models, and how close to the bound.

Measures each part of the frame path alone (decode, preprocess, inference by batch size, JSON),
then the whole pipeline with N streams, in one process on one machine, and reports the ratio of
pipeline throughput to the sum-of-parts bound and the number of 25 fps cameras it sustains.
"""

from __future__ import annotations

from streamer.bench.records import BenchReport, InferencePoint, PipelinePoint, StageFigures
from streamer.bench.report import format_report
from streamer.bench.run import BenchOptions, bench_from_args, run_bench

__all__ = [
    "BenchOptions",
    "BenchReport",
    "InferencePoint",
    "PipelinePoint",
    "StageFigures",
    "bench_from_args",
    "format_report",
    "run_bench",
]

"""Running a bench: options, the models and clip it measures, the order of measurements."""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

from streamer.bench import stages
from streamer.bench.clip import preset_clip, preset_size
from streamer.bench.pipeline_run import RunSpec
from streamer.bench.pipeline_run import run as run_pipeline
from streamer.bench.records import BenchReport, DecodePoint, PipelinePoint, StageFigures
from streamer.config import Config, load_config, parse_config
from streamer.errors import ConfigError
from streamer.machine import cores
from streamer.modelset import ModelSet, load_models
from streamer.runtime import version as ort_version
from streamer.sources import SourceKind, configure_ffmpeg, resolve

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchOptions:
    """What to measure. Either ``config`` or ``models`` (then ``clip`` or ``make_clip`` is required)."""

    config: Path | None = None
    models: tuple[Path, ...] = ()
    clip: Path | None = None
    make_clip: str | None = None  # a preset of streamer.bench.clip, generated once and cached
    streams: tuple[int, ...] = (1, 2, 4)
    batches: tuple[int, ...] = ()  # default: powers of two up to the config's max_batch
    seconds: float = 3.0
    max_batch: int | None = None
    rounds: int = 1
    workers: int | Literal["auto"] | None = None  # [capture] workers for the pipeline runs; None: the config's
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.clip is not None and self.make_clip is not None:
            raise ConfigError("bench: give --clip or --make-clip, not both")
        if self.make_clip is not None:
            preset_size(self.make_clip)  # a typo fails here, before any model loads


def machine() -> str:
    """CPU model and core count, for the report."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {cores()} cores usable, onnxruntime {ort_version()}"


def _config(opts: BenchOptions) -> Config:
    if opts.config is not None:
        config = load_config(opts.config)
    elif opts.models:
        models = {p.stem.replace(" ", "_"): {"path": str(p.resolve())} for p in opts.models}
        config = parse_config({"models": models}, Path.cwd(), "bench")
    else:
        raise ConfigError("bench: give --config, or --model (one or more) and --clip or --make-clip")
    if opts.max_batch is not None:
        config = config.model_copy(
            update={"pipeline": config.pipeline.model_copy(update={"max_batch": opts.max_batch})}
        )
    if opts.workers is not None:
        config = config.model_copy(update={"capture": config.capture.model_copy(update={"workers": opts.workers})})
    return config


def _clip(opts: BenchOptions, config: Config) -> str:
    if opts.make_clip is not None:
        return str(preset_clip(opts.make_clip))
    if opts.clip is not None:
        if not opts.clip.is_file():
            raise ConfigError(f"bench: --clip: no such file: {opts.clip}")
        return str(opts.clip.resolve())
    for s in config.streams:
        source = resolve(s, config)
        if source.kind is SourceKind.FILE:
            return str(source.target)
    raise ConfigError("bench: the config has no file stream; give --clip or --make-clip")


def _batches(opts: BenchOptions, max_batch: int) -> tuple[int, ...]:
    if opts.batches:
        return tuple(b for b in opts.batches if b <= max_batch) or (1,)
    out, b = [], 1
    while b <= max_batch:
        out.append(b)
        b *= 2
    return tuple(out)


def _median_record(records: Sequence[Any]) -> Any:
    """Field-by-field median of records of one type (figures from interleaved rounds)."""
    first = records[0]
    values: dict[str, Any] = {}
    for f in fields(first):
        column = [getattr(r, f.name) for r in records]
        if isinstance(column[0], float):
            values[f.name] = round(statistics.median(column), 3)
        elif isinstance(column[0], tuple) and column[0] and is_dataclass(column[0][0]):
            values[f.name] = tuple(_median_record(list(group)) for group in zip(*column, strict=True))
        elif isinstance(column[0], int) and f.name in ("dropped",):
            values[f.name] = int(statistics.median(column))
        else:
            values[f.name] = column[0]
    return replace(first, **values)


def _round(opts: BenchOptions, config: Config, models: ModelSet, clip: str) -> tuple[StageFigures, list[PipelinePoint]]:
    specs = {im.model.name: im.model.spec.input for im in models.image if im.model.spec.input is not None}
    s = opts.seconds
    logger.info("bench: decode and preprocess")
    decoder = config.capture.decoder
    decode_fps, frames = stages.decode(clip, s, decoder)
    pre_ms = stages.preprocess(specs, frames, s / 2)
    threads = cores()
    capture_fps = stages.capture(clip, specs, threads, s, decoder)
    # Decode alone on as many threads as each pipeline run has streams: what decoding allows it.
    decode_alone = []
    for n in opts.streams or (threads,):
        logger.info("bench: decode alone on %d thread(s)", n)
        fps = stages.decode_alone(clip, n, s, decoder)
        decode_alone.append(DecodePoint(n, round(fps, 1), round(stages.opencv_read_alone(clip, n, s), 1)))
    logger.info("bench: inference")
    inference = stages.inference(models, _batches(opts, config.pipeline.max_batch), s * 2)
    results = stages.sample_results(models, specs, frames[: min(8, len(frames))])
    json_us = stages.json_encoding(results, s / 4)
    figures = StageFigures(
        decode_fps=round(decode_fps, 1),
        preprocess_ms=round(pre_ms, 4),
        capture_fps=round(capture_fps, 1),
        capture_threads=threads,
        json_us=round(json_us, 1),
        inference=inference,
        decode_alone=tuple(decode_alone),
    )
    points: list[PipelinePoint] = []
    for n in opts.streams:
        logger.info("bench: pipeline with %d stream(s)", n)
        point, _ = run_pipeline(config, models, RunSpec(clip, n, s))
        points.append(point)
    return figures, points


def run_bench(opts: BenchOptions) -> BenchReport:
    """Measure every stage alone, then the pipeline with each stream count; one process, one machine.

    With ``rounds`` > 1 the whole set is measured again, round after round, and each figure is
    the median over rounds, so a burst of load from elsewhere does not land on one figure alone.
    """
    configure_ffmpeg()
    config = _config(opts)
    clip = _clip(opts, config)
    models = load_models(config)
    notes = opts.notes
    if opts.workers is not None:
        notes = (*notes, f"pipeline runs with [capture] workers = {opts.workers}")
    if opts.rounds > 1:
        notes = (*notes, f"medians of {opts.rounds} interleaved rounds")
    rounds = [_round(opts, config, models, clip) for _ in range(opts.rounds)]
    figures: StageFigures = _median_record([r[0] for r in rounds])
    points: list[PipelinePoint] = [_median_record(list(g)) for g in zip(*(r[1] for r in rounds), strict=True)]
    w, h = stages.frame_size(clip, config.capture.decoder)
    return BenchReport(
        machine=machine(),
        clip=clip,
        frame_size=(w, h),
        models=tuple(f"{m.name} ({m.provider})" for m in models.all()),
        stages=figures,
        pipeline=tuple(points),
        notes=notes,
    )


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"bench: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ConfigError(f"bench: expected positive integers, got {text!r}")
    return values


def _workers(text: str) -> int | Literal["auto"]:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f'bench: --workers: expected "auto" or a number of processes >= 0, got {text!r}')
    return value


def bench_from_args(args: argparse.Namespace) -> BenchOptions:
    """Options from the ``streamer bench`` command line."""
    if args.seconds <= 0:
        raise ConfigError("bench: --seconds must be > 0")
    if args.rounds < 1:
        raise ConfigError("bench: --rounds must be >= 1")
    return BenchOptions(
        config=None if args.model else Path(args.config),
        models=tuple(Path(m) for m in args.model or ()),
        clip=Path(args.clip) if args.clip else None,
        make_clip=args.make_clip,
        streams=_ints(args.streams) if args.streams != "0" else (),
        batches=_ints(args.batches) if args.batches else (),
        seconds=args.seconds,
        max_batch=args.max_batch,
        rounds=args.rounds,
        workers=None if args.workers is None else _workers(args.workers),
    )

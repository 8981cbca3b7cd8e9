"""Camera-scale throughput and latency: N streams of a 1080p clip, capture in threads vs processes.

    .venv/bin/python scripts/bench_camera.py --config CONFIG --clip CLIP --streams 4 --workers 0,auto \
        --loads 70,150 --out docs/perf/camera.json
    .venv/bin/python scripts/bench_camera.py --stand-in-classifier 224 --clip CLIP ...

``--stand-in-classifier SIZE`` benches a SIZExSIZE classifier that costs almost nothing to run (it
classifies by mean colour; ``tests/tinymodels.py``), configured as a third-party model, in place
of ``--config``'s models: what capture and preprocessing for a SIZE-px model cost, with inference
out of the way.

1. ``streamer bench`` (every stage alone, then the pipeline with offline streams) once per
   ``--workers`` value: frames/s against the machine's limit (decode alone on N threads, inference
   alone at its best batch), p50/p99 latency, CPU.
2. Latency under load: with the first ``--workers`` value that reached the highest frames/s, the
   clip played like cameras (realtime, newest frame wins) by as many 25 fps streams as make each
   ``--loads`` percentage of that capacity: published frames/s, p50/p99 capture-to-publish latency,
   drops (counted, never queued).
Writes one JSON document; prints a summary line per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.bench.pipeline_run import RunSpec, run
from streamer.bench.run import BenchOptions, run_bench
from streamer.config import load_config
from streamer.modelset import load_models
from streamer.sources import configure_ffmpeg

CAMERA_FPS = 25.0


def workers_value(text: str) -> int | Literal["auto"]:
    return "auto" if text == "auto" else int(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=None, help="config whose [models], [pipeline] and [capture] to use")
    stand_in = "bench a SIZExSIZE classifier that costs almost nothing instead of --config's models"
    ap.add_argument("--stand-in-classifier", type=int, default=None, metavar="SIZE", help=stand_in)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--streams", default="4", help="offline stream counts, comma-separated")
    ap.add_argument("--workers", default="0,auto", help="[capture] workers values to compare, comma-separated")
    ap.add_argument("--loads", default="70,150", help="realtime loads in percent of capacity; empty skips")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1, help="repeat each bench measurement, report medians")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if (args.config is None) == (args.stand_in_classifier is None):
        ap.error("give one of --config and --stand-in-classifier")
    args.clip = args.clip.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-camera-") as tmp:
        if args.stand_in_classifier is not None:
            args.config = stand_in_config(Path(tmp), args.stand_in_classifier)
        bench(args)


def stand_in_config(folder: Path, size: int) -> Path:
    """A config whose only model is a size x size stand-in classifier (third-party: no metadata)."""
    from tests.tinymodels import classifier

    model = classifier(folder / f"classifier_{size}.onnx", size=(size, size), metadata=False, embedding=False)
    config = folder / "stand_in.toml"
    config.write_text(
        f'[models.classifier]\npath = "{model}"\nkind = "classifier"\nlabels = ["red", "green", "blue"]\n'
        f'input_size = [{size}, {size}]\noutputs = {{ logits = "logits" }}\n'
    )
    return config


def bench(args: argparse.Namespace) -> None:
    streams = tuple(int(s) for s in args.streams.split(","))
    doc: dict[str, Any] = {"config": str(args.config), "stand_in_classifier": args.stand_in_classifier,
                           "clip": str(args.clip), "bench": {}, "loads": []}  # fmt: skip
    best: tuple[float, int | Literal["auto"]] = (0.0, "auto")
    for w in (workers_value(v) for v in args.workers.split(",")):
        opts = BenchOptions(
            config=args.config, clip=args.clip, streams=streams, seconds=args.seconds, rounds=args.rounds, workers=w
        )
        report = run_bench(opts)
        doc["bench"][str(w)] = report.to_json()
        doc["machine"] = report.machine
        save(args.out, doc)
        for p in report.pipeline:
            limit = report.stages.limit(p.streams)
            print(f"workers={w} streams={p.streams}: {p.fps:.1f} frames/s, limit {limit.fps:.1f} ({limit.limited_by}), "
                  f"ratio {p.fps / limit.fps:.2f}, p50 {p.latency_p50_ms:.1f} ms, p99 {p.latency_p99_ms:.1f} ms, "
                  f"batch {p.mean_batch:.1f}, model {p.model_ms:.2f} ms/run, cpu {p.cpu_percent:.0f} %",
                  flush=True)  # fmt: skip
            if p.fps > best[0]:
                best = (p.fps, w)
    loads = [float(v) for v in args.loads.split(",") if v.strip()]
    if loads:
        configure_ffmpeg()
        config = load_config(args.config)
        config = config.model_copy(update={"capture": config.capture.model_copy(update={"workers": best[1]})})
        models = load_models(config)
        for load in loads:
            n = max(1, round(best[0] * load / 100.0 / CAMERA_FPS))
            t0 = time.monotonic()
            point, _ = run(config, models, RunSpec(str(args.clip), n, args.seconds, warmup_s=2.0, realtime=True))
            row = {
                "load_percent": load,
                "capacity_fps": best[0],
                "workers": best[1],
                "streams": n,
                "offered_fps": n * CAMERA_FPS,
                **asdict(point),
                "wall_s": round(time.monotonic() - t0, 1),
            }
            doc["loads"].append(row)
            save(args.out, doc)
            print(f"load {load:.0f} % ({n} streams at 25 fps, workers={best[1]}): {point.fps:.1f} frames/s, "
                  f"p50 {point.latency_p50_ms:.1f} ms, p99 {point.latency_p99_ms:.1f} ms, drops {point.dropped}",
                  flush=True)  # fmt: skip
    save(args.out, doc)


def save(path: Path | None, doc: dict[str, Any]) -> None:
    """Written after every run, so a run cut short keeps what it measured."""
    if path is not None:
        path.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Daemon pipeline against the hand-written loop: same clip, models and machine, one run, interleaved.

    .venv/bin/python -m benchmarks.compare --cnn models/frame_cnn.onnx --rnn models/sequence_gru.onnx \
        --clip models/demo.mp4 --streams 4 --rounds 3 --seconds 8

Throughput: every stream plays the clip as fast as it can (``realtime = false`` for the daemon).
Reports frames/s and CPU milliseconds per frame (the second is steadier on a shared machine),
per round and as medians, and the ratio daemon / hand loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.hand_loop import run_hand_loop
from streamer.bench.pipeline_run import RunSpec, run
from streamer.config import parse_config
from streamer.modelset import load_models


def daemon_config(cnn: Path, rnn: Path, capture: dict[str, Any] | None = None, **pipeline: Any) -> Any:
    models = {"frame_cnn": {"path": str(cnn.resolve())}, "sequence_gru": {"path": str(rnn.resolve())}}
    data = {"models": models, "pipeline": pipeline, "capture": capture or {}}
    return parse_config(data, Path.cwd(), "compare")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn", type=Path, required=True)
    ap.add_argument("--rnn", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    config = daemon_config(args.cnn, args.rnn)
    models = load_models(config)
    rows: dict[str, list[tuple[float, float]]] = {"daemon": [], "hand": []}
    for _ in range(args.rounds):
        point, _ = run(config, models, RunSpec(str(args.clip), args.streams, args.seconds))
        rows["daemon"].append((point.fps, point.cpu_percent * 10.0 / point.fps))
        cpu0, t0 = time.process_time(), time.monotonic()
        res = run_hand_loop(str(args.cnn), str(args.rnn), str(args.clip), args.streams, args.seconds + 1.0)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        done = [t for t, _, _ in res.published if t >= 1.0]  # same 1 s warm-up as the daemon
        fps = len(done) / args.seconds
        rows["hand"].append((fps, cpu * 1000.0 / max(len(res.published), 1)))
        print(json.dumps({"round": rows["daemon"][-1], "hand": rows["hand"][-1], "wall": round(wall, 1)}))
    med = {k: (statistics.median(f for f, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
    print(
        json.dumps(
            {
                "streams": args.streams,
                "rounds": rows,
                "median_fps": {k: round(v[0], 1) for k, v in med.items()},
                "median_cpu_ms_per_frame": {k: round(v[1], 3) for k, v in med.items()},
                "fps_ratio_daemon_over_hand": round(med["daemon"][0] / med["hand"][0], 3),
            }
        )
    )


if __name__ == "__main__":
    main()

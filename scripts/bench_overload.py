"""Latency under load: the daemon (realtime streams, newest frame wins) against the hand-written loop.

    .venv/bin/python scripts/bench_overload.py --cnn models/frame_cnn.onnx --rnn models/sequence_gru.onnx \
        --clip models/demo.mp4 --out docs/overload.json --plot docs/overload.png

1. Capacity C: the daemon with 4 file streams offline (frames/s, all streams).
2. 4 streams at 25 fps (the clip as a camera) and at 70 % and 150 % of C: each stream is the clip
   retimed to C * load / 4 fps and played like a camera (frame n due at t0 + n / fps).
   Lag = when the result was published (daemon: received by a subscriber) minus when its frame was due.
3. The hand-written loop (benchmarks/hand_loop.py) under the same 150 % load.
Writes per-second lag curves and a plot; prints p50/p99 and the latency target's terms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare import daemon_config
from benchmarks.hand_loop import run_hand_loop
from streamer.bench.pipeline_run import Recorder, RunSpec, run
from streamer.bench.stages import inference
from streamer.modelset import load_models

STREAMS = 4


def clip_fps(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    return fps


def retimed(clip: Path, fps: float, folder: Path, repeat: int = 30) -> tuple[Path, float]:
    """The clip repeated (so a run never reaches its end) and retimed to about ``fps``, no re-encoding."""
    out = folder / f"clip_{fps:.0f}.mp4"
    scale = clip_fps(clip) / fps
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", str(repeat), "-itsscale", f"{scale:.6f}",
         "-i", str(clip), "-c", "copy", str(out)], check=True)  # fmt: skip
    return out, clip_fps(out)


def daemon_lags(rec: Recorder, fps: float, warmup_s: float) -> list[tuple[float, float]]:
    """(t since start, lag) per message: lag behind each frame's due time on the stream's schedule."""
    by_stream: dict[str, list[tuple[float, int, float]]] = {}
    for recv, stream, seq, t_cap in rec.messages:
        by_stream.setdefault(stream, []).append((recv, seq, t_cap))
    t0 = min(m[0] for m in rec.messages)
    out = []
    for msgs in by_stream.values():
        start = min(t_cap - seq / fps for _, seq, t_cap in msgs)  # the earliest frame was on time
        out += [(recv - t0, recv - (start + seq / fps)) for recv, seq, _ in msgs]
    return sorted((t, lag) for t, lag in out if t >= warmup_s)


def per_second(samples: list[tuple[float, float]]) -> list[tuple[int, float, float]]:
    """(second, median lag ms, max lag ms) for each second of the run."""
    bins: dict[int, list[float]] = {}
    for t, lag in samples:
        bins.setdefault(int(t), []).append(lag * 1000.0)
    return [(s, round(statistics.median(v), 1), round(max(v), 1)) for s, v in sorted(bins.items())]


def pcts(samples: list[tuple[float, float]]) -> dict[str, float]:
    lags = np.array([lag for _, lag in samples]) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(lags, 50)), 1),
        "p99_ms": round(float(np.percentile(lags, 99)), 1),
        "max_ms": round(float(lags.max()), 1),
        "n": len(lags),
    }


def plot(curves: dict[str, list[tuple[int, float, float]]], path: Path, title: str) -> None:
    """A small line chart of median lag per second, drawn with OpenCV (log-scaled y)."""
    w, h, m = 900, 460, 70
    img = np.full((h, w, 3), 255, np.uint8)
    t_max = max(s for c in curves.values() for s, _, _ in c) or 1
    y_max = max(v for c in curves.values() for _, v, _ in c)
    lo, hi = np.log10(1.0), np.log10(max(y_max, 10.0) * 1.5)

    def xy(t: float, v: float) -> tuple[int, int]:
        y = (np.log10(max(v, 1.0)) - lo) / (hi - lo)
        return int(m + t / t_max * (w - 2 * m)), int(h - m - y * (h - 2 * m))

    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    for ms in (1, 10, 100, 1000, 10000):
        if np.log10(ms) <= hi:
            _, y = xy(0, ms)
            cv2.line(img, (m, y), (w - m, y), (220, 220, 220), 1)
            cv2.putText(img, f"{ms} ms", (5, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    colours = [(200, 80, 0), (0, 0, 220), (0, 150, 0)]
    for i, (name, c) in enumerate(curves.items()):
        pts = np.array([xy(s + 0.5, v) for s, v, _ in c], np.int32)
        cv2.polylines(img, [pts], False, colours[i % 3], 2, cv2.LINE_AA)
        cv2.putText(img, name, (m + 10, m + 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colours[i % 3], 1)
    cv2.putText(img, title, (m, m - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, "seconds", (w // 2, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for s in range(0, int(t_max) + 1, max(1, int(t_max) // 10)):
        x, _ = xy(s, 1)
        cv2.putText(img, str(s), (x - 5, h - m + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.imwrite(str(path), img)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn", type=Path, required=True)
    ap.add_argument("--rnn", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--thread-nice", type=int, default=None, help="[capture] thread_nice (default: the daemon's)")
    ap.add_argument("--batch-wait", choices=["auto", "fill"], default=None, help="[pipeline] batch_wait")
    ap.add_argument("--loads", default="25fps,70%,150%", help="which loads to run, comma-separated")
    args = ap.parse_args()
    capture = {} if args.thread_nice is None else {"thread_nice": args.thread_nice}
    pipeline = {} if args.batch_wait is None else {"batch_wait": args.batch_wait}
    config = daemon_config(args.cnn, args.rnn, capture, **pipeline)
    models = load_models(config)
    single = inference(models, [1], 2.0)[0].batch_ms
    deadline = config.pipeline.batch_deadline_ms
    cap_point, _ = run(config, models, RunSpec(str(args.clip), STREAMS, 6.0))
    capacity = cap_point.fps
    report: dict[str, object] = {
        "capacity_fps": capacity,
        "single_batch_ms": single,
        "deadline_ms": deadline,
        "latency_target_ms": round(3 * single + deadline, 2),
    }
    curves: dict[str, list[tuple[int, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        loads = {"25fps": clip_fps(args.clip) * STREAMS / capacity, "70%": 0.7, "150%": 1.5}
        wanted = args.loads.split(",")
        if unknown := set(wanted) - set(loads):
            ap.error(f"--loads: unknown {', '.join(sorted(unknown))} (choose from {', '.join(loads)})")
        for name, load in ((n, v) for n, v in loads.items() if n in wanted):
            clip, fps = retimed(args.clip, capacity * load / STREAMS, Path(tmp))
            point, rec = run(config, models, RunSpec(str(clip), STREAMS, args.seconds, 1.0, True, True))
            lags = daemon_lags(rec, fps, 1.0)
            row: dict[str, object] = {
                "stream_fps": round(fps, 1),
                "published_fps": point.fps,
                "dropped": point.dropped,
                "capture_to_publish_p50_ms": point.latency_p50_ms,
                "capture_to_publish_p99_ms": point.latency_p99_ms,
                "lag_behind_schedule": pcts(lags),
                "per_second": per_second(lags),
            }
            report[f"daemon_{name}"] = row
            print(name, json.dumps({k: v for k, v in row.items() if k != "per_second"}))
            if name == "150%":
                curves["daemon, 150% load"] = per_second(lags)
                hand = run_hand_loop(
                    str(args.cnn), str(args.rnn), str(clip), STREAMS, args.seconds + 1.0, paced_fps=fps
                )
                hl = sorted((t, lag) for t, lag, _ in hand.published if t >= 1.0)
                curves["hand-written loop, 150% load"] = per_second(hl)
                report["hand_150%"] = {
                    "published_fps": round(len(hl) / args.seconds, 1),
                    "lag": pcts(hl),
                    "per_second": per_second(hl),
                }
                print("hand 150%", json.dumps(report["hand_150%"]["lag"]))  # type: ignore[index]
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    if args.plot:
        plot(curves, args.plot, f"median lag behind the camera, 4 streams at 150% of capacity ({capacity:.0f} fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

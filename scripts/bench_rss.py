"""RSS of a running daemon over time: 4 realtime streams looping a clip, RSS sampled every 10 s.

    .venv/bin/python scripts/bench_rss.py --model models/frame_cnn.onnx --model models/sequence_gru.onnx \
        --clip models/demo.mp4 --minutes 10 --out rss.json

Prints RSS at 1 minute and at the end, and the slope between them (a leak shows as a slope).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def write_config(folder: Path, models: list[Path], clip: Path, streams: int, realtime: bool) -> Path:
    lines = ["[publish]", 'endpoint = "tcp://127.0.0.1:*"', "[metrics]", "enabled = false"]
    for m in models:
        lines += [f"[models.{m.stem}]", f'path = "{m.resolve()}"']
    for i in range(streams):
        lines += [
            "[[streams]]",
            f'name = "cam{i}"',
            f'source = "{clip.resolve()}"',
            f"realtime = {'true' if realtime else 'false'}",
            "loop = true",
        ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, type=Path)
    ap.add_argument("--clip", required=True, type=Path)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), args.model, args.clip, args.streams, realtime=True)
        exe = Path(sys.executable).parent / "streamer"
        proc = subprocess.Popen([str(exe), "--log-level", "WARNING", "run", "--config", str(config)])
        samples: list[tuple[float, float]] = []
        start = time.monotonic()
        try:
            while (t := time.monotonic() - start) < args.minutes * 60:
                if proc.poll() is not None:
                    raise SystemExit(f"daemon exited with {proc.returncode}")
                samples.append((round(t, 1), round(rss_mib(proc.pid), 1)))
                time.sleep(args.every)
            samples.append((round(time.monotonic() - start, 1), round(rss_mib(proc.pid), 1)))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    at_1 = next((r for t, r in samples if t >= 60), samples[-1][1])
    end_t, end = samples[-1]
    slope = (end - at_1) / max((end_t - 60) / 60, 1e-9)
    report = {
        "streams": args.streams,
        "rss_mib_at_1min": at_1,
        "rss_mib_at_end": end,
        "end_s": end_t,
        "slope_mib_per_min": round(slope, 3),
        "samples": samples,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

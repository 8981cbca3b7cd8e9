"""What event clips cost on this machine: the frame ring's memory and encoding per frame, the writer per clip second.

    python scripts/bench_clips.py CLIP.mp4 [--width 640] [--quality 80] [--pre-s 3] [--frames 250]

Reads the clip's frames with OpenCV, puts each through the ring's JPEG encoding (what the frame tap
pays per frame while a rule is configured), then has the real clip writer encode them as one clip
(H.264, one x264 thread) and reports its CPU time per second of clip.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import cast

import cv2

from streamer.clip_events import ClipDone, ClipEvent
from streamer.clip_file import ClipSpec
from streamer.clip_ring import FRAME_OVERHEAD, RingFrame, clip_size, encode_frame
from streamer.clip_store import ClipStore
from streamer.clip_writer import ClipWriter
from streamer.records import FrameInfo, Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--quality", type=int, default=80)
    parser.add_argument("--crf", type=int, default=26)
    parser.add_argument("--pre-s", type=float, default=3.0)
    parser.add_argument("--frames", type=int, default=250)
    args = parser.parse_args()

    cap = cv2.VideoCapture(str(args.clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    images: list[Image] = []
    while len(images) < args.frames:
        ok, img = cap.read()
        if not ok:
            break
        images.append(cast(Image, img))
    cap.release()
    if not images:
        raise SystemExit(f"{args.clip}: no frames")
    h, w = images[0].shape[:2]

    cv2.setNumThreads(1)  # per frame on one core, as the tap would pay it
    jpegs, costs = [], []
    for img in images:
        t = time.perf_counter()
        jpegs.append(encode_frame(img, args.width, args.quality))
        costs.append(time.perf_counter() - t)
    sizes = [len(j) for j in jpegs]
    per_frame = statistics.mean(sizes) + FRAME_OVERHEAD
    ring_frames = round(fps * args.pre_s) + 1
    cw, ch = clip_size(w, h, args.width)
    print(f"source {w}x{h} @ {fps:g} fps, {len(images)} frames; clip {cw}x{ch}, JPEG quality {args.quality}")
    print(
        f"ring: JPEG {statistics.mean(sizes) / 1024:.1f} KiB/frame (max {max(sizes) / 1024:.1f}); "
        f"pre_s {args.pre_s:g} = {ring_frames} frames = {ring_frames * per_frame / 2**20:.2f} MiB per stream"
    )
    print(
        f"tap: resize + JPEG {statistics.median(costs) * 1000:.2f} ms/frame median "
        f"({statistics.median(costs) * 1000 * fps / 10:.1f} % of a core at {fps:g} fps)"
    )

    told: list[ClipEvent] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ClipStore(Path(tmp), 2**40)
        writer = ClipWriter(store, told.append, crf=args.crf, queue_bytes=2**31)
        spec = ClipSpec(1, "bench", "bench", store.paths("bench", "bench", time.time()))
        writer.open(spec)
        for i, jpeg in enumerate(jpegs):
            info = FrameInfo("bench", i, 0, i / fps, i / fps, w, h)
            writer.frame(1, RingFrame(i, info, jpeg, None))
        writer.close(1)
        cpu, wall = time.process_time(), time.perf_counter()
        writer.start()
        writer.stop(timeout=600)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = [e for e in told if isinstance(e, ClipDone)]
    if not done:
        raise SystemExit(f"the clip was not written: {told}")
    seconds = len(jpegs) / fps
    print(
        f"writer: {seconds:.1f} s of clip ({done[0].bytes / 2**20:.2f} MiB, crf {args.crf}) in {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU = {cpu / seconds:.3f} CPU-s per clip second ({cpu / len(jpegs) * 1000:.2f} ms/frame)"
    )


if __name__ == "__main__":
    main()

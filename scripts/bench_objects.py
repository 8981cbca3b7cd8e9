"""Figures of the object stages: tracker cost, per-object sequence cost, and what its features are worth.

    .venv/bin/python scripts/bench_objects.py --out docs/perf/objects.json

1. Tracker: ms per frame of :class:`streamer.track.Tracker` with N objects in straight-line motion
   (median of 3 runs of 2,000 frames each).
2. Per-object sequence step (the bundled frame CNN on each object's view, then the GRU): ms per
   frame with N tracked objects, at the pipeline's ``max_batch``.
3. Features: motion accuracy of the bundled GRU on generated single-object scenes (the training
   generator, held-out seeds), fed (a) the frame CNN's embedding of the whole frame, as trained,
   and (b) the embedding of the object's view from its ground-truth box, as the per-object stage
   does. Frames within ``--settle`` frames of a segment start are not scored, as in training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from export.scene_motion import MOTIONS
from export.scenes import Scene, random_segments
from streamer.model_config import ModelConfig
from streamer.modelset import ImageModel, SequenceModel
from streamer.object_sequence import ObjectSequenceStep
from streamer.postprocess import softmax
from streamer.prepare import FramePreparer
from streamer.records import Detection, Frame, FrameInfo, ModelOutput
from streamer.runtime import Model, load_model
from streamer.track import Tracker

ROOT = Path(__file__).resolve().parents[1]


def tracker_ms(n: int, frames: int = 2000) -> float:
    rng = np.random.default_rng(n)
    start = rng.uniform(0, 1000, (n, 2))
    vel = rng.uniform(-5, 5, (n, 2))
    boxes = []
    for k in range(frames):
        c = start + k * vel + rng.normal(0, 1, (n, 2))
        boxes.append(np.concatenate([c - 20, c + 20], axis=1))
    scores = rng.uniform(0.6, 1.0, n)
    runs = []
    for _ in range(3):
        t = Tracker()
        t0 = time.perf_counter()
        for k, b in enumerate(boxes):
            t.update(b, scores, k * 0.04)
        runs.append((time.perf_counter() - t0) / frames * 1e3)
    return round(statistics.median(runs), 4)


def run(model: Model, feeds: dict[str, Any], n: int) -> dict[str, Any]:
    return model.run(feeds)


def models(max_batch: int) -> tuple[ImageModel, SequenceModel]:
    cnn_path, gru_path = ROOT / "models/frame_cnn.onnx", ROOT / "models/sequence_gru.onnx"
    cnn_cfg = ModelConfig(path=str(cnn_path))  # the daemon's defaults
    cnn = ImageModel(load_model("frame", cnn_path, cnn_cfg, max_batch), cnn_cfg)
    gru = load_model("motion", gru_path, ModelConfig(path=str(gru_path)), max_batch)
    return cnn, SequenceModel(gru, "frame", "det")


def object_step_ms(n: int, max_batch: int, repeats: int = 30) -> float:
    cnn, seq = models(max_batch)
    assert cnn.model.spec.input is not None
    stage = ObjectSequenceStep(seq, cnn, max_batch)
    prep = FramePreparer({"frame": cnn.model.spec.input})(
        Frame(FrameInfo("a", 0, 0, 0.0, 0.0, 320, 240), np.zeros((240, 320, 3), np.uint8))
    )
    images = prep.inputs["frame"].tensor[None]
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 280, (n, 2))
    dets = tuple(Detection("x", 0.9, (x, y, x + 40, y + 40), i + 1) for i, (x, y) in enumerate(xy))
    outputs = [(ModelOutput("det", "detector", detections=dets),)]
    info = [FrameInfo("a", 0, 0, 0.0, 0.0, 320, 240)]
    transforms = [prep.inputs["frame"].transform]
    stage(info, outputs, images, transforms, run)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stage(info, outputs, images, transforms, run)
        runs.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(runs), 3)


def feature_accuracy(clips: int, frames: int, settle: int, seed: int) -> dict[str, float]:
    """Motion accuracy with whole-frame embeddings against object-view embeddings, same GRU."""
    cnn, seq = models(1)
    spec = cnn.model.spec
    assert spec.input is not None
    gru = seq.model
    gspec = gru.spec
    assert gspec.state is not None and gspec.features_input is not None
    stage = ObjectSequenceStep(seq, cnn, 1)
    preparer = FramePreparer({"frame": spec.input})
    hits = {"whole_frame": 0, "object_view": 0}
    scored = 0
    for c in range(clips):
        rng = np.random.default_rng([seed, c])
        scene = Scene([seed, c], random_segments(rng, frames, 40, 90, p_empty=0.0))
        h = np.zeros((gspec.state.layers, 1, gspec.state.size), np.float32)
        k, track = 0, 0
        frame_iter = scene.frames()
        for seg, body, path in zip(scene.segments, scene.mains, scene.tracks, strict=True):
            if not seg.same_object:
                track += 1
            for i in range(seg.length):
                image = next(frame_iter)
                info = FrameInfo("s", k, 0, k * 0.04, k * 0.04, scene.width, scene.height)
                prep = preparer(Frame(info, image))
                x = prep.inputs["frame"].tensor[None]
                emb = cnn.model.run({spec.input.name: x})[spec.outputs["embedding"]]
                out = gru.run({gspec.features_input: emb, gspec.state.input: h})
                h = out[gspec.state.output]
                whole = int(np.argmax(softmax(out[gspec.outputs["logits"]])[0]))
                assert body is not None and path is not None
                cx, cy = path.xy[i]
                r = body.radius
                det = Detection("x", 1.0, (cx - r, cy - r, cx + r, cy + r), track)
                objects = [(ModelOutput("det", "detector", detections=(det,)),)]
                labelled, _ = stage([info], objects, x, [prep.inputs["frame"].transform], run)
                view = labelled[0][0].detections[0].sequence
                assert view is not None
                if i >= settle:
                    truth = MOTIONS.index(seg.motion)
                    scored += 1
                    hits["whole_frame"] += whole == truth
                    hits["object_view"] += gspec.labels.index(view.label) == truth
                k += 1
        stage.states.end_stream("s")
    return {k: round(100 * v / max(1, scored), 2) for k, v in hits.items()} | {"frames_scored": scored}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--settle", type=int, default=16)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--max-batch", type=int, default=8)
    args = ap.parse_args()
    result: dict[str, Any] = {"tracker_ms_per_frame": {n: tracker_ms(n) for n in (1, 20, 100, 400)}}
    print("tracker ms/frame:", result["tracker_ms_per_frame"], flush=True)
    result["object_sequence_ms_per_frame"] = {n: object_step_ms(n, args.max_batch) for n in (1, 8, 20)}
    result["max_batch"] = args.max_batch
    print("per-object sequence ms/frame:", result["object_sequence_ms_per_frame"], flush=True)
    result["motion_accuracy"] = feature_accuracy(args.clips, args.frames, args.settle, args.seed)
    print("motion accuracy %:", result["motion_accuracy"], flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

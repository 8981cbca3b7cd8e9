"""The bundled objects demo: the daemon runs the shape detector, the tracker and the per-object motion
model on objects.mp4, and its published boxes, track ids and motions score what ``streamer-export
evaluate`` recorded for them (pycocotools and py-motmetrics against objects.json)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import zmq

from export.detection_eval import coco_map
from export.object_sequence_eval import motion_accuracy
from export.objects_demo import read_objects_truth
from export.tracking_eval import accumulate, mot_figures
from streamer.codec import schema
from streamer.model_config import ModelConfig
from streamer.records import Detection, SequenceOutput
from tests.support.procs import free_port, run_printing
from tests.systemd.daemon import toml_dumps

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "objects.toml"


def _config(tmp_path: Path, **model_overrides: Any) -> tuple[Path, str, dict[str, Any]]:
    """examples/objects.toml with absolute paths, private ports and the stream read offline."""
    example = tomllib.loads(EXAMPLE.read_text())
    models = {
        name: {**table, "path": str((EXAMPLE.parent / table["path"]).resolve()), **model_overrides}
        for name, table in example["models"].items()
    }
    stream = {**example["streams"][0], "source": str((EXAMPLE.parent / example["streams"][0]["source"]).resolve())}
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    config = {
        "publish": {"endpoint": endpoint},
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "models": models,
        "tracking": example["tracking"],
        "streams": [{**stream, "realtime": False, "loop": False}],
    }
    path = tmp_path / "objects.toml"
    path.write_text(toml_dumps(config))
    return path, endpoint, config


def test_example_config_checks_clean() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(EXAMPLE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "detector" in out.stdout and out.stdout.strip().endswith("ok")


def _published(cfg: Path, endpoint: str, frames: int) -> list[dict[str, Any]]:
    """Run the daemon on ``cfg`` until it has published ``frames`` results of the objects stream."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"objects")
    sub.setsockopt(zmq.RECONNECT_IVL, 10)
    sub.connect(endpoint)
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "run", "--config", str(cfg)], stderr=subprocess.PIPE)
    msgs: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while len(msgs) < frames and time.monotonic() < deadline:
            if sub.poll(200):
                topic, payload = sub.recv_multipart()
                if topic == b"objects":
                    msgs.append(json.loads(payload))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        sub.close(0)
        ctx.term()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert [m["seq"] for m in msgs] == list(range(frames))
    result_schema = schema("result")
    for m in msgs:
        jsonschema.validate(m, result_schema)
    return msgs


def _detections(msgs: list[dict[str, Any]], model: str) -> list[tuple[Detection, ...]]:
    """The detector's published detections per frame, with their track ids and motions."""
    out = []
    for m in msgs:
        body = m["models"][model]
        assert body["kind"] == "detector"
        out.append(tuple(_detection(d) for d in body["detections"]))
    return out


def _detection(d: dict[str, Any]) -> Detection:
    seq = d.get("sequence")
    motion = None if seq is None else SequenceOutput(seq["model"], seq["label"], seq["score"], seq["steps"])
    return Detection(d["label"], d["score"], tuple(d["box"]), d.get("track_id"), motion)


def test_published_detections_score_the_evaluated_map(tmp_path: Path) -> None:
    """Every frame offline, at evaluate's score floor: the daemon's boxes give evaluate's demo mAP."""
    cfg, endpoint, config = _config(tmp_path, confidence=0.001, max_detections=100)
    truth = read_objects_truth(REPO / "models" / "objects.json")
    recorded = json.loads((REPO / "models" / "manifest.json").read_text())["evaluation"]
    detections = _detections(_published(cfg, endpoint, len(truth)), next(iter(config["models"])))
    got = coco_map(truth, detections, ["circle", "square", "triangle", "star"], (320, 240))
    assert abs(got.map50 - recorded["demo_detection_map50"]) <= 0.02, got
    assert abs(got.map50_95 - recorded["demo_detection_map50_95"]) <= 0.02, got


def test_published_tracks_and_motions_score_the_evaluated_figures(tmp_path: Path) -> None:
    """Every frame offline, at the daemon's default score floor and the example's [tracking] table as
    evaluate uses them: the published track ids give evaluate's demo MOTA and IDF1 (py-motmetrics
    against objects.json), and the per-object motions its demo motion accuracy."""
    defaults = ModelConfig(path="x.onnx")
    cfg, endpoint, config = _config(tmp_path, confidence=defaults.confidence, max_detections=defaults.max_detections)
    truth = read_objects_truth(REPO / "models" / "objects.json")
    recorded = json.loads((REPO / "models" / "manifest.json").read_text())["evaluation"]
    tracked = _detections(_published(cfg, endpoint, len(truth)), next(iter(config["models"])))
    mot = mot_figures(accumulate([(truth, tracked)]))
    assert abs(mot.mota - recorded["demo_tracking_mota"]) <= 0.02, mot
    assert abs(mot.idf1 - recorded["demo_tracking_idf1"]) <= 0.02, mot
    motion = motion_accuracy([(truth, tracked)])
    assert motion.scored > 500, motion
    assert abs(motion.accuracy - recorded["demo_object_sequence_accuracy"]) <= 2.0, motion


def test_run_print_shows_detections(tmp_path: Path) -> None:
    """``streamer run --config examples/objects.toml --print`` (on private ports) prints each frame's objects."""
    cfg, _, _ = _config(tmp_path)
    printed = run_printing(cfg, "objects #20 ", tmp_path / "stdout.txt")
    lines = [line for line in printed if line.startswith("objects #")]
    # Each line lists the frame's objects: "objects=[#6 square zigzag, #7 star left, ...]".
    listed = [line.split("objects=[", 1)[1].split("]", 1)[0] for line in lines[:20]]
    objects = [[o for o in text.split(", ") if o] for text in listed]
    counts = [len(o) for o in objects]
    truth = read_objects_truth(REPO / "models" / "objects.json")
    seen = [sum(o.visibility >= 0.3 for o in frame) for frame in truth[:20]]
    # At the example's score floor, about as many detections as objects in view (partly hidden ones may go).
    assert len(counts) == 20, lines
    assert sum(abs(c - s) for c, s in zip(counts, seen, strict=True)) / 20 <= 1.5, (counts, seen)
    # Once confirmed, objects carry their track id and the per-object motion model's label.
    tracked = [o.split() for frame in objects[5:] for o in frame if o.startswith("#")]
    assert tracked and all(len(words) == 3 for words in tracked), objects

"""The bundled objects demo: the daemon runs the shape detector on objects.mp4 and its published boxes
score what ``streamer-export evaluate`` recorded for them (pycocotools against objects.json)."""

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
from export.objects_demo import read_objects_truth
from streamer.codec import schema
from streamer.records import Detection
from tests.support.procs import free_port
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


def test_published_detections_score_the_evaluated_map(tmp_path: Path) -> None:
    """Every frame offline, at evaluate's score floor: the daemon's boxes give evaluate's demo mAP."""
    cfg, endpoint, config = _config(tmp_path, confidence=0.001, max_detections=100)
    truth = read_objects_truth(REPO / "models" / "objects.json")
    recorded = json.loads((REPO / "models" / "manifest.json").read_text())["evaluation"]
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"objects")
    sub.setsockopt(zmq.RECONNECT_IVL, 10)
    sub.connect(endpoint)
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "run", "--config", str(cfg)], stderr=subprocess.PIPE)
    msgs: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while len(msgs) < len(truth) and time.monotonic() < deadline:
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
    assert [m["seq"] for m in msgs] == list(range(len(truth)))
    result_schema = schema("result")
    model = next(iter(config["models"]))
    detections = []
    for m in msgs:
        jsonschema.validate(m, result_schema)
        body = m["models"][model]
        assert body["kind"] == "detector"
        detections.append(tuple(Detection(d["label"], d["score"], tuple(d["box"])) for d in body["detections"]))
    got = coco_map(truth, detections, ["circle", "square", "triangle", "star"], (320, 240))
    assert abs(got.map50 - recorded["demo_detection_map50"]) <= 0.02, got
    assert abs(got.map50_95 - recorded["demo_detection_map50_95"]) <= 0.02, got


def test_run_print_shows_detections(tmp_path: Path) -> None:
    """``streamer run --config examples/objects.toml --print`` (on private ports) prints each frame's objects."""
    cfg, _, _ = _config(tmp_path)
    out = tmp_path / "stdout.txt"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer", "run", "--config", str(cfg), "--print"],
            stdout=sink, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "objects #20 " not in out.read_text() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()[-2000:]
    lines = [line for line in out.read_text().splitlines() if line.startswith("objects #")]
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

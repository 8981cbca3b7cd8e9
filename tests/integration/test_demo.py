"""The bundled default: the reference models on the demo clip publish the labels the clip shows."""

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

from streamer.codec import schema
from tests.support.procs import free_port, port_open, run_printing
from tests.systemd.daemon import toml_dumps

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_default_config_checks_clean() -> None:
    if port_open("127.0.0.1", 9108) or port_open("127.0.0.1", 5556):
        pytest.skip("a default port (9108 or 5556) is taken on this machine: check would rightly refuse it")
    out = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(REPO / "config.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "demo: file" in out.stdout and out.stdout.strip().endswith("ok")


def test_demo_clip_labels(tmp_path: Path) -> None:
    """Every frame of the demo, offline: frame classes and (once settled) motions match demo.json."""
    default = tomllib.loads((REPO / "config.toml").read_text())
    truth = json.loads((REPO / "models" / "demo.json").read_text())
    models = {
        name: {**table, "path": str((REPO / table["path"]).resolve())} for name, table in default["models"].items()
    }
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    config = {
        "publish": {"endpoint": endpoint},
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "models": models,
        "streams": [{"name": "demo", "source": str(REPO / "models" / truth["clip"]), "realtime": False}],
    }
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps(config))
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"demo")
    sub.setsockopt(zmq.RECONNECT_IVL, 10)
    sub.connect(endpoint)
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "run", "--config", str(cfg)], stderr=subprocess.PIPE)
    msgs: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while len(msgs) < truth["frames"] and time.monotonic() < deadline:
            if sub.poll(200):
                topic, payload = sub.recv_multipart()
                if topic == b"demo":
                    msgs.append(json.loads(payload))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        sub.close(0)
        ctx.term()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert [m["seq"] for m in msgs] == list(range(truth["frames"]))
    result_schema = schema("result")
    frame_hits = frame_total = motion_hits = motion_total = 0
    settle = truth["settle_frames"]
    for seg in truth["segments"]:
        for m in msgs[seg["start"] : seg["end"]]:
            jsonschema.validate(m, result_schema)
            frame_total += 1
            frame_hits += m["models"]["frame"]["top"][0]["label"] == seg["frame_class"]
        for m in msgs[seg["start"] + settle : seg["end"]]:
            motion_total += 1
            motion_hits += m["sequence"]["label"] == seg["motion"]
    frame_acc, motion_acc = frame_hits / frame_total, motion_hits / motion_total
    # The held-out figures of the models are higher; this clip is one scene, so allow some slack.
    assert frame_acc >= 0.95, f"frame accuracy {frame_acc:.3f}"
    assert motion_acc >= 0.90, f"motion accuracy {motion_acc:.3f} after {settle} frames"


def test_run_print_shows_results_from_the_first_frame(tmp_path: Path) -> None:
    """The README's first command, on a private port: ``--print`` is subscribed before frame 0 goes out."""
    default = tomllib.loads((REPO / "config.toml").read_text())
    models = {
        name: {**table, "path": str((REPO / table["path"]).resolve())} for name, table in default["models"].items()
    }
    config = {
        "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}"},
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "models": models,
        "streams": [{"name": "demo", "source": str(REPO / "models" / "demo.mp4"), "realtime": True, "loop": True}],
    }
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps(config))
    printed = run_printing(cfg, "demo #10 ", tmp_path / "stdout.txt")
    seqs = [int(line.split()[1][1:]) for line in printed if line.startswith("demo #")]
    # Subscribed before frame 0 went out; a realtime stream may skip a frame on a slow machine.
    assert seqs[:1] == [0] and seqs[:11] == sorted(set(seqs[:11])), seqs[:11]

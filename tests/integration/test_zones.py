"""Zones and lines through the daemon: crossings and zone changes of tracked objects, as events and metrics."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from streamer.codec import schema
from tests.integration.robust_rig import scrape, value
from tests.integration.test_daemon import Subscriber, start
from tests.integration.test_objects import FRAMES, setup, square_clip  # noqa: F401  (setup is a fixture)
from tests.support.media import ffmpeg_path
from tests.systemd.daemon import toml_dumps

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ffmpeg_path() is None, reason="needs ffmpeg to encode H.264"),
]


def test_crossings_and_zone_changes_are_published_once_per_object(tmp_path: Path, setup: dict[str, Any]) -> None:  # noqa: F811
    clip = square_clip(tmp_path / "squares.mp4")
    # The top square moves right along y=60, the bottom one left along y=170 (boxes 40 px).
    stream = {
        "name": "yard", "source": str(clip), "realtime": False, "loop": True,
        "lines": [{"name": "gate", "points": [[0.5, 0.0], [0.5, 1.0]], "relative": True}],
        "zones": [{"name": "east", "points": [[200, 0], [320, 0], [320, 240], [200, 240]]}],
        "zone_min_frames": 2,
    }  # fmt: skip
    sub = Subscriber(setup["publish"]["endpoint"])
    proc = start(tmp_path, {**setup, "streams": []})
    try:
        sub.wait_connected(60)
        (tmp_path / "config.toml").write_text(toml_dumps({**setup, "streams": [stream]}))
        proc.send_signal(signal.SIGHUP)

        def loops() -> bool:
            sub.drain(time.monotonic() + 0.2)
            return any(m["epoch"] >= 3 for m in sub.results("yard"))

        deadline = time.monotonic() + 90
        while not loops():
            assert time.monotonic() < deadline, "three loops of the clip"
        metrics = scrape(setup["metrics"]["listen"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        sub.close()
    assert proc.returncode == 0, (tmp_path / "stderr.log").read_text()
    event_schema = schema("event")
    events = [m for topic, m in sub.messages if topic == "_events"]
    for e in events:
        jsonschema.validate(e, event_schema)
    # The first loops: the streams' results of epochs 0 and 1 and their events (the clip loops every FRAMES).
    first = {m["t_capture"] for m in sub.results("yard") if m["epoch"] < 2}
    early = [e for e in events if e["t_capture"] in first]
    crossings = Counter(e["direction"] for e in early if e["event"] == "line_crossing")
    # A downward line: the top square (moving right) crosses to the line's left side (out), the
    # bottom one (moving left) to its right-hand side (in); once each per loop, never twice.
    assert crossings == {"out": 2, "in": 2}, early
    changes = Counter((e["event"], e["track_id"]) for e in early if e["event"].startswith("zone_"))
    assert all(n == 1 for n in changes.values()), changes
    assert sum(1 for (kind, _) in changes if kind == "zone_enter") >= 4  # both squares, both loops
    inside = [d for m in sub.results("yard") for d in m["models"]["det"]["detections"] if "zones" in d]
    assert inside and all(d["zones"] == ["east"] and d["box"][2] > 200 for d in inside)
    label = early[0]["label"]
    assert value(metrics, "streamer_line_crossings_total", stream="yard", line="gate", direction="in", label=label) >= 2
    assert value(metrics, "streamer_zone_objects", stream="yard", zone="east", label=label) in (0.0, 1.0, 2.0)

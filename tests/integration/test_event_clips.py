"""Event clips through the daemon: a rule fires on a real clip; an H.264 MP4 and sidecar are announced on _events."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import av
import jsonschema
import pytest

from streamer.codec import schema
from tests.integration.robust_rig import scrape, value
from tests.integration.test_daemon import Subscriber, start
from tests.integration.test_objects import setup, square_clip  # noqa: F401  (setup is a fixture)
from tests.support.media import ffmpeg_path
from tests.systemd.daemon import toml_dumps

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ffmpeg_path() is None, reason="needs ffmpeg to encode H.264"),
]


@pytest.mark.parametrize("workers", [0, 1], ids=["capture-threads", "capture-process"])
def test_a_label_rule_writes_an_annotated_clip_and_announces_it(
    tmp_path: Path,
    setup: dict[str, Any],  # noqa: F811
    workers: int,
) -> None:
    clip = square_clip(tmp_path / "squares.mp4")  # 2 s at 25 fps, two squares in every frame
    stream = {"name": "yard", "source": str(clip), "realtime": True}  # paced like a camera, ends after 2 s
    events = {
        "dir": str(tmp_path / "clips"), "pre_s": 0.4, "post_s": 0.4, "max_s": 1.0, "width": 160,
        "rules": [{"name": "blobs", "label": "blob", "min_frames": 3}],
    }  # fmt: skip
    sub = Subscriber(setup["publish"]["endpoint"])
    proc = start(tmp_path, {**setup, "streams": []})
    try:
        sub.wait_connected(60)
        config = {**setup, "events": events, "capture": {"workers": workers}, "streams": [stream]}
        (tmp_path / "config.toml").write_text(toml_dumps(config))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not any(m.get("event") == "clip_done" for t, m in sub.messages if t == "_events"):
            assert time.monotonic() < deadline, "a clip_done event"
            sub.drain(time.monotonic() + 0.2)
        metrics = scrape(setup["metrics"]["listen"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        sub.close()
    assert proc.returncode == 0, (tmp_path / "stderr.log").read_text()
    events_seen = [m for t, m in sub.messages if t == "_events"]
    for e in events_seen:
        jsonschema.validate(e, schema("event"))
    started = next(e for e in events_seen if e["event"] == "clip_started")
    done = next(e for e in events_seen if e["event"] == "clip_done")
    assert started["rule"] == done["rule"] == "blobs" and started["path"] == done["path"]
    path = Path(done["path"])
    assert path.exists() and path.suffix == ".mp4" and not list(path.parent.glob("*.tmp*"))
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and video.width == 160
        frames = sum(1 for _ in container.decode(video))
    assert frames == done["frames"] and 0.8 <= done["seconds"] <= 1.1  # capped at max_s
    sidecar = json.loads(next(path.parent.glob(path.stem + "*.json")).read_text())
    assert sidecar, "the sidecar carries the frames' results"
    assert value(metrics, "streamer_clips_total") >= 1

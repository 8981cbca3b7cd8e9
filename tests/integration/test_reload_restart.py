"""A reload that removes streams while also changing [models], [pipeline] or [capture] restarts the
whole pipeline; the removed streams' series must go with them (no ghost ``streamer_stream_up 0``)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, TypedDict

import pytest

from tests.integration.robust_rig import (
    Ports,
    config_data,
    file_stream,
    start_daemon,
    tiny_models,
    write_config,
)
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import wait_until

pytestmark = pytest.mark.integration


def series_of(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], stream: str) -> list[str]:
    return sorted({name for name, labels in samples if ("stream", stream) in labels})


class Change(TypedDict, total=False):
    """What a reload changes: the [pipeline] table, the [capture] table, or (``models`` set) the sequence model."""

    pipeline: dict[str, Any]
    capture: dict[str, Any]
    models: str


@pytest.mark.parametrize(
    "change",
    [{"pipeline": {"max_batch": 4}}, {"capture": {"workers": 0}}, {"models": "seq removed"}],
    ids=["pipeline", "capture", "models"],
)
def test_streams_removed_in_a_restarting_reload_leave_no_series(
    change: Change, tmp_path: Path, clips: Clips, daemon_process: DaemonFactory
) -> None:
    models = tiny_models(tmp_path / "models")
    ports = Ports()
    a, b = file_stream("a", clips.h264_long), file_stream("gone", clips.h264_long)
    # A dead camera as well: its series (stream_up 0) are the ones an alert would keep firing on.
    dead = {"name": "deadcam", "source": "rtsp://127.0.0.1:9/nothing"}
    path = write_config(tmp_path / "c.toml", config_data(ports, models, [a, b, dead]))
    running = start_daemon(daemon_process, path, ports, wait_streams=("a", "gone"))
    try:
        before = running.scrape()
        assert series_of(before, "gone") and series_of(before, "deadcam")
        new_models = {"cls": models["cls"]} if change.get("models") else models
        data = config_data(
            ports,
            new_models,
            [a],
            pipeline=change.get("pipeline"),
            capture=change.get("capture"),
        )
        write_config(path, data)
        running.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: running.sub.statuses("config_reloaded"), 15, 0.05, "reload")
        wait_until(lambda: running.sub.statuses("stream_removed", "deadcam"), 5, 0.05, "deadcam removed")
        wait_until(lambda: running.sub.results("a", running.sub.statuses("config_reloaded")[0].t_recv), 10, 0.05, "a")
        after = running.scrape()
        assert series_of(after, "gone") == [] and series_of(after, "deadcam") == [], series_of(
            after, "gone"
        ) + series_of(after, "deadcam")
        assert series_of(after, "a")
        assert "Traceback" not in running.logs()
    finally:
        running.sub.close()

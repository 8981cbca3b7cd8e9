"""Hot reload on SIGHUP: streams added, removed and changed without touching the others; a broken
config or a corrupt model is refused (log line, status message, metric) and the running
configuration keeps serving."""

from __future__ import annotations

import copy
import itertools
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.robust_rig import (
    Ports,
    Running,
    config_data,
    file_stream,
    report,
    start_daemon,
    tiny_models,
    value,
    write_config,
)
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import wait_until

pytestmark = pytest.mark.integration

# A stream that keeps running shows no gap longer than this between two results (25 fps: 0.04 s).
MAX_GAP_S = 0.5


def hup(running: Running, since_events: int) -> str:
    """Send SIGHUP; return the event (config_reloaded or config_error) it produced."""
    running.proc.send_signal(signal.SIGHUP)

    def outcome() -> list[Any]:
        events = running.sub.statuses("config_reloaded") + running.sub.statuses("config_error")
        return events if len(events) > since_events else []

    events = wait_until(outcome, 15, 0.05, "reload outcome")
    latest = max(events, key=lambda m: m.t_recv)
    return str(latest.body["event"])


def uninterrupted(running: Running, stream: str, since: float) -> tuple[int, float]:
    """Check ``stream`` kept one capture (seq never restarts) and never paused; return (results, max gap)."""
    msgs = running.sub.results(stream, since)
    seqs = [m.body["seq"] for m in msgs]
    assert all(b > a for a, b in itertools.pairwise(seqs)), f"{stream} restarted: {seqs[:5]}..."
    gap = max((b.t_recv - a.t_recv for a, b in itertools.pairwise(msgs)), default=0.0)
    assert gap < MAX_GAP_S, f"{stream} paused {gap:.2f} s"
    return len(msgs), gap


def test_reload_adds_removes_changes_and_refuses_bad_configs(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory
) -> None:
    models = tiny_models(tmp_path / "models")
    ports = Ports()
    a, b, c = (file_stream(n, clips.h264_long) for n in "abc")
    path = tmp_path / "reload.toml"
    good = config_data(ports, models, [a, b])
    write_config(path, good)
    running = start_daemon(daemon_process, path, ports, wait_streams=("a", "b"))
    t_start = time.monotonic()
    outcomes: dict[str, str] = {}
    try:
        # 1. Add a stream.
        good = config_data(ports, models, [a, b, c])
        write_config(path, good)
        outcomes["add c"] = hup(running, 0)
        wait_until(lambda: running.sub.results("c"), 10, 0.05, "results of c")
        assert running.sub.statuses("stream_added", "c")

        # 2. Remove one.
        good = config_data(ports, models, [a, c])
        write_config(path, good)
        outcomes["remove b"] = hup(running, 1)
        removed = wait_until(lambda: running.sub.statuses("stream_removed", "b"), 10, 0.05, "b removed")
        t_removed = removed[0].t_recv
        time.sleep(1.0)
        assert not running.sub.results("b", t_removed + 0.2), "b still publishes after its removal"
        assert running.scrape().get(("streamer_stream_up", (("stream", "b"),))) is None

        # 3. Change one: c restarts capped at 10 fps; a is left alone.
        c10 = {**c, "max_fps": 10.0}
        good = config_data(ports, models, [a, c10])
        write_config(path, good)
        t_change = time.monotonic()
        outcomes["change c"] = hup(running, 2)
        wait_until(lambda: running.sub.results("c", t_change + 1.0), 10, 0.05, "c again")
        time.sleep(2.0)
        c_after = [m.body for m in running.sub.results("c", t_change)]
        assert min(m["seq"] for m in c_after) < 10, "c was not restarted with its new settings"
        c_fps = len(running.sub.results("c", t_change + 1.0)) / (time.monotonic() - t_change - 1.0)
        assert c_fps <= 11.0, c_fps

        # 4. Refused: broken TOML, an invalid value, a missing source, a corrupt model.
        bad_model = tmp_path / "corrupt.onnx"
        bad_model.write_bytes(Path(models["cls"]["path"]).read_bytes()[:200] + b"\x00garbage" * 50)
        broken_model = copy.deepcopy(good)
        broken_model["models"]["cls"]["path"] = str(bad_model)
        missing_source = copy.deepcopy(good)
        missing_source["streams"].append(file_stream("d", tmp_path / "nope.mp4"))
        bad_value = copy.deepcopy(good)
        bad_value["pipeline"]["max_batch"] = 0
        refused: dict[str, str | dict[str, Any]] = {
            "broken toml": "[[streams]\nname = ",
            "invalid value": bad_value,
            "missing source": missing_source,
            "corrupt model": broken_model,
        }
        t_refused = time.monotonic()
        for i, (name, data) in enumerate(refused.items()):
            if isinstance(data, str):
                path.write_text(data)
            else:
                write_config(path, data)
            outcomes[name] = hup(running, 3 + i)
        errors = [m.body["detail"] for m in running.sub.statuses("config_error")]
        time.sleep(1.0)
        assert running.sub.results("a", time.monotonic() - 0.5) and running.sub.results("c", time.monotonic() - 0.5)

        samples = running.scrape()
        a_count, a_gap = uninterrupted(running, "a", t_start)
        _, c_gap = uninterrupted(running, "c", t_refused)
        report(
            "reload",
            outcomes=outcomes,
            errors=errors,
            a_results=a_count,
            a_max_gap_s=a_gap,
            c_max_gap_during_refusals_s=c_gap,
            c_fps_after_change=c_fps,
        )
        assert [outcomes[k] for k in ("add c", "remove b", "change c")] == ["config_reloaded"] * 3
        assert [outcomes[k] for k in refused] == ["config_error"] * 4
        assert "invalid TOML" in errors[0]
        assert "pipeline.max_batch" in errors[1]
        assert "streams[d].source" in errors[2]
        assert "models.cls" in errors[3] or "corrupt.onnx" in errors[3], errors[3]
        assert value(samples, "streamer_config_reloads_total", result="ok") == 3
        assert value(samples, "streamer_config_reloads_total", result="error") == 4
        assert running.alive()
        logs = running.logs()
        assert logs.count("reload failed, keeping the running configuration") == 4
        assert "Traceback" not in logs
    finally:
        running.sub.close()

"""The daemon as a user runs it: real clips, real ONNX Runtime, a real SUB socket, /metrics, signals."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest
import zmq

from streamer.codec import schema
from tests import tinymodels
from tests.integration.robust_rig import scrape
from tests.support.procs import free_port, wait_until
from tests.systemd.daemon import toml_dumps

pytestmark = pytest.mark.integration

COLOURS = {"red": (0, 0, 220), "green": (0, 220, 0), "blue": (220, 0, 0)}  # BGR


def colour_clip(path: Path, colour: str, frames: int, size: tuple[int, int] = (160, 120)) -> Path:
    """A real MPEG-4 clip: a flat colour with a white square moving across it."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (w, h))
    for i in range(frames):
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = COLOURS[colour]
        x = (i * 3) % (w - 12)
        img[50:62, x : x + 12] = 255
        writer.write(img)
    writer.release()
    return path


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    tinymodels.classifier(tmp_path / "cls.onnx")
    tinymodels.sequence(tmp_path / "seq.onnx")
    return {
        "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}"},
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "models": {"frame": {"path": "cls.onnx"}, "motion": {"path": "seq.onnx"}},
    }


class Subscriber:
    """A SUB socket connected before the daemon binds, so no message is missed."""

    def __init__(self, endpoint: str) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 10)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.monitor = self.sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.sock.connect(endpoint)
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def wait_connected(self, timeout: float) -> None:
        """Until the daemon's PUB socket accepted us, plus time for our subscription to reach it.

        A PUB socket drops what it sends before a subscriber's subscription arrived, so a test
        that must see every message waits for this before the daemon starts publishing results.
        """
        if not self.monitor.poll(int(timeout * 1000)):
            raise TimeoutError(f"no connection to the daemon within {timeout} s")
        self.monitor.recv_multipart()
        time.sleep(0.3)

    def drain(self, until: float) -> None:
        while time.monotonic() < until:
            if self.sock.poll(100):
                topic, payload = self.sock.recv_multipart()
                self.messages.append((topic.decode(), json.loads(payload)))

    def wait_for(self, stream: str, timeout: float) -> None:
        """Drain until a first result of ``stream`` came (start-up is slow on a busy machine)."""

        def arrived() -> list[dict[str, Any]]:
            self.drain(time.monotonic() + 0.1)
            return self.results(stream)

        wait_until(arrived, timeout, what=f"a first result of {stream}")

    def results(self, stream: str) -> list[dict[str, Any]]:
        return [m for t, m in self.messages if t == stream]

    def status(self) -> list[dict[str, Any]]:
        return [m for t, m in self.messages if t == "_status"]

    def close(self) -> None:
        self.sock.disable_monitor()
        self.monitor.close(0)
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def sub_factory() -> Iterator[Any]:
    subs: list[Subscriber] = []

    def make(endpoint: str) -> Subscriber:
        subs.append(Subscriber(endpoint))
        return subs[-1]

    yield make
    for s in subs:
        s.close()


def start(tmp_path: Path, config: dict[str, Any], *extra: str) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps(config))
    return subprocess.Popen(
        [sys.executable, "-m", "streamer", *extra, "run", "--config", str(cfg)],
        stderr=open(tmp_path / "stderr.log", "wb"),
        stdout=subprocess.DEVNULL,
    )


def test_offline_files_lose_nothing_and_messages_validate(
    tmp_path: Path, setup: dict[str, Any], sub_factory: Any
) -> None:
    frames = {"red": 60, "green": 45, "blue": 75}
    streams = [
        {"name": f"cam-{c}", "source": str(colour_clip(tmp_path / f"{c}.mp4", c, n)), "realtime": False}
        for c, n in frames.items()
    ]
    sub = sub_factory(setup["publish"]["endpoint"])
    # Start with no streams and add them by reload once subscribed, so that no result can be
    # published before the subscription arrived (a PUB socket drops those).
    proc = start(tmp_path, {**setup, "streams": []})
    try:
        sub.wait_connected(60)
        (tmp_path / "config.toml").write_text(toml_dumps({**setup, "streams": streams}))
        proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: (
                (sub.drain(time.monotonic() + 0.2), sum(map(len, map(sub.results, [s["name"] for s in streams]))))[1]
                >= sum(frames.values())
            ),
            30,
        )
        listen = setup["metrics"]["listen"]
        metrics = scrape(listen)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    result_schema = schema("result")
    for colour, n in frames.items():
        msgs = sub.results(f"cam-{colour}")
        assert [m["seq"] for m in msgs] == list(range(n)), "offline files must lose no frame"
        for m in msgs:
            jsonschema.validate(m, result_schema)
        assert {m["models"]["frame"]["top"][0]["label"] for m in msgs} == {colour}
        assert [m["sequence"]["steps"] for m in msgs] == list(range(1, n + 1))
        assert all(m["frame"] == {"width": 160, "height": 120} for m in msgs)
        key = (("stream", f"cam-{colour}"),)
        assert metrics[("streamer_frames_processed_total", key)] == n
        assert metrics[("streamer_messages_published_total", key)] == n
        assert metrics[("streamer_frames_dropped_total", (("reason", "superseded"), ("stream", f"cam-{colour}")))] == 0
    events = [(m["event"], m.get("stream"), m.get("state")) for m in sub.status()]
    for colour in frames:
        assert ("stream_state", f"cam-{colour}", "stopped") in events
    assert proc.returncode == 0


def test_realtime_loop_metrics_health_and_sigterm(tmp_path: Path, setup: dict[str, Any], sub_factory: Any) -> None:
    clip = colour_clip(tmp_path / "blue.mp4", "blue", 20)
    streams = [{"name": "live", "source": str(clip), "realtime": True, "loop": True}]
    sub = sub_factory(setup["publish"]["endpoint"])
    proc = start(tmp_path, {**setup, "streams": streams})
    listen = setup["metrics"]["listen"]
    try:
        # Start-up (imports, model warm-up) takes a while on a busy machine; then listen 2.5 s.
        sub.wait_for("live", 60)
        first = len(sub.results("live"))
        sub.drain(time.monotonic() + 2.5)
        msgs = sub.results("live")
        # Paced at 25 fps: about 62 frames in 2.5 s, never many more (the file must not run free).
        assert 40 <= len(msgs) - first <= 70
        # The 20-frame clip loops: each loop is a new epoch and restarts the sequence state.
        assert len({m["epoch"] for m in msgs}) >= 2
        for m in msgs:
            assert m["sequence"]["steps"] <= 20
        assert max(m["latency_s"] for m in msgs) < 0.5
        health = json.loads(urllib.request.urlopen(f"http://{listen}/healthz", timeout=5).read())
        assert health["healthy"] is True and health["streams"]["live"]["state"] == "up"
        text = urllib.request.urlopen(f"http://{listen}/metrics", timeout=5).read()
        if shutil.which("promtool"):
            lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
            assert lint.returncode == 0, lint.stdout + lint.stderr
        metrics = scrape(listen)
        assert metrics[("streamer_stream_up", (("stream", "live"),))] == 1
        assert metrics[("streamer_stream_state", (("state", "up"), ("stream", "live")))] == 1
        info = [k for k in metrics if k[0] == "streamer_build_info"]
        assert info and dict(info[0][1])["providers"] == "CPUExecutionProvider"
        assert metrics[("streamer_latency_seconds_count", (("stream", "live"),))] >= len(msgs)
        assert ("process_resident_memory_bytes", ()) in metrics
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        took = time.monotonic() - t0
    sub.drain(time.monotonic() + 0.3)
    assert code == 0
    assert took < 3.0, f"SIGTERM took {took:.1f}s"
    assert sub.status()[-1]["event"] == "daemon_stop"
    stderr = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c, d: c["models"]["frame"].update(path="missing.onnx"), "models.frame.path: no such file"),
        (
            lambda c, d: (d / "junk.onnx").write_bytes(b"junk") and c["models"]["frame"].update(path="junk.onnx"),
            "not a loadable ONNX model",
        ),
        (lambda c, d: c["models"]["frame"].update(input_size=[64, 64]), "input 'image' has shape"),
        (lambda c, d: c.update(streams=[{"name": "x", "source": "nope.mp4"}]), "streams[x].source: no such file"),
        (lambda c, d: c.update(streams=[{"name": "x", "source": str(d)}]), "is a directory"),
        (lambda c, d: c["models"]["frame"].update(colour="RGB"), "models.frame.colour: unknown key"),
    ],
)
@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_config_exits_2_with_one_line(
    tmp_path: Path, setup: dict[str, Any], mutate: Any, needle: str, command: str
) -> None:
    mutate(setup, tmp_path)
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps(setup))
    out = subprocess.run(
        [sys.executable, "-m", "streamer", "--log-level", "ERROR", command, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("streamer: error:")]
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_endpoint_in_use_and_invalid_toml_exit_2(tmp_path: Path, setup: dict[str, Any]) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    squatter = ctx.socket(zmq.PUB)
    squatter.bind(setup["publish"]["endpoint"])
    try:
        cfg = tmp_path / "config.toml"
        cfg.write_text(toml_dumps(setup))
        for command in ("check", "run"):
            out = subprocess.run(
                [sys.executable, "-m", "streamer", command, "--config", str(cfg)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 2 and "publish.endpoint: cannot bind" in out.stderr, out.stderr
    finally:
        squatter.close(0)
        ctx.term()
    cfg.write_text("[models\n")
    out = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "invalid TOML" in out.stderr and "Traceback" not in out.stderr


def test_schema_command_prints_the_shipped_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "streamer", "schema"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and json.loads(out.stdout) == schema("result")


def test_rtsp_stream_from_a_real_server(
    tmp_path: Path, setup: dict[str, Any], sub_factory: Any, rtsp_server: Any
) -> None:
    server = rtsp_server()
    streams = [{"name": "rtsp", "source": server.url("/cam0")}]
    sub = sub_factory(setup["publish"]["endpoint"])
    proc = start(tmp_path, {**setup, "streams": streams})
    try:
        sub.wait_for("rtsp", 60)
        first = len(sub.results("rtsp"))
        sub.drain(time.monotonic() + 3.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    msgs = sub.results("rtsp")
    # 25 fps once the RTSP session is up: about 75 frames in 3 s.
    assert len(msgs) - first >= 55, len(msgs) - first
    assert all(m["frame"] == {"width": 320, "height": 240} for m in msgs)
    assert all(m["latency_s"] < 0.5 for m in msgs)
    seqs = [m["seq"] for m in msgs]
    assert seqs == sorted(seqs)
    states = [m["state"] for m in sub.status() if m["event"] == "stream_state"]
    assert "up" in states


def test_subscribe_command_filters_counts_and_exits_cleanly_on_ctrl_c(tmp_path: Path, setup: dict[str, Any]) -> None:
    clip = colour_clip(tmp_path / "red.mp4", "red", 20)
    streams = [
        {"name": "cam", "source": str(clip), "realtime": True, "loop": True},
        {"name": "cam2", "source": str(clip), "realtime": True, "loop": True},
    ]
    endpoint = setup["publish"]["endpoint"]
    base = [sys.executable, "-m", "streamer", "subscribe", "--endpoint", endpoint]
    counted = subprocess.Popen([*base, "--stream", "cam", "--count", "10"], stdout=subprocess.PIPE, text=True)
    forever = subprocess.Popen([*base, "--no-status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = start(tmp_path, {**setup, "streams": streams})
    try:
        out, _ = counted.communicate(timeout=30)
        time.sleep(0.5)
        forever.send_signal(signal.SIGINT)
        all_out, all_err = forever.communicate(timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    lines = [json.loads(line) for line in out.splitlines()]
    assert counted.returncode == 0 and len(lines) == 10
    assert {m["stream"] for m in lines} == {"cam"}  # "cam2" shares the prefix but is filtered out
    assert forever.returncode == 0 and "Traceback" not in all_err
    seen = {json.loads(line)["stream"] for line in all_out.splitlines()}
    assert seen == {"cam", "cam2"}

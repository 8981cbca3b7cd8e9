"""The live view in a real browser: headless Chromium (Debian's) loads the page and sees the picture move."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.robust_rig import Ports, config_data, start_daemon, tiny_models, write_config
from tests.integration.test_daemon import start
from tests.integration.test_objects import setup, square_clip  # noqa: F401  (setup is a fixture)
from tests.support.fixtures import DaemonFactory, RtspServerFactory
from tests.support.media import decode_image, ffmpeg_path
from tests.support.procs import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ffmpeg_path() is None, reason="needs ffmpeg to encode H.264"),
]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:
        return 0, b""  # not listening yet


@pytest.fixture(params=[0, 1], ids=["capture-threads", "capture-process"])
def daemon(tmp_path: Path, setup: dict[str, Any], request: pytest.FixtureRequest) -> Any:  # noqa: F811
    clip = square_clip(tmp_path / "squares.mp4")
    (tmp_path / "token").write_text("s3cret\n")
    config = {
        **setup,
        "preview": {"enabled": True, "fps": 10, "token_file": "token", "max_viewers": 2},
        "capture": {"workers": request.param},
        "streams": [{"name": "yard", "source": str(clip), "realtime": True, "loop": True}],
    }
    proc = start(tmp_path, config)
    base = f"http://{setup['metrics']['listen']}"
    try:
        wait_until(lambda: fetch(base + "/streams.json?token=s3cret")[0] == 200, 60, what="the live view")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode == 0, (tmp_path / "stderr.log").read_text()


def test_pictures_and_states_over_http(daemon: str) -> None:
    assert fetch(daemon + "/streams.json")[0] == 401  # the token is wanted
    wait_until(lambda: fetch(daemon + "/streams/yard.jpg?token=s3cret")[0] == 200, 30, what="a first picture")
    code, body = fetch(daemon + "/streams/yard.jpg?token=s3cret")
    assert code == 200 and body[:2] == b"\xff\xd8"
    assert fetch(daemon + "/streams/nope.jpg?token=s3cret")[0] == 404
    streams = json.loads(fetch(daemon + "/streams.json?token=s3cret")[1])["streams"]
    assert streams[0]["name"] == "yard" and streams[0]["state"] == "up"
    assert streams[0]["result"]["models"]["det"]["detections"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_a_browser_sees_the_stream_move(daemon: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.goto(daemon + "/?token=s3cret")
            page.wait_for_function(
                "document.querySelector('.stream img') && document.querySelector('.stream img').naturalWidth > 0",
                timeout=30_000,
            )
            assert page.inner_text(".stream .state") == "up"
            img = page.locator(".stream img")
            shots = []
            for _ in range(2):
                shots.append(decode_image(img.screenshot())[..., ::-1].astype(np.int16))  # RGB
                time.sleep(1.0)
            (tmp_path / "shot.png").write_bytes(img.screenshot())
        finally:
            browser.close()
    first, second = shots
    assert first.shape == second.shape and first.shape[1] > 300
    assert np.abs(first - second).mean() > 1.0, "the picture moves"
    red = (first[..., 0] > 150) & (first[..., 1] < 90) & (first[..., 2] < 90)
    assert red.sum() > 200, "the red squares of the stream are on screen"


def _open_mjpeg(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"GET /streams/yard.mjpg?token=s3cret HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def test_viewers_that_come_and_go_or_stall_leak_nothing(daemon: str) -> None:
    for _ in range(100):  # a browser opening and closing the view (a slot may take a frame to come back)
        sock = _open_mjpeg(daemon)
        assert sock.recv(12) in (b"HTTP/1.1 200", b"HTTP/1.1 503")
        sock.close()
    time.sleep(0.2)  # a slot comes back as its viewer's connection closes, not at the stream's next picture
    stalled = _open_mjpeg(daemon)  # never reads: its writes back up until the server drops it
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    watcher = _open_mjpeg(daemon)
    got = watcher.recv(12)
    assert got == b"HTTP/1.1 200", "both viewer slots are free once the hundred viewers left"
    deadline = time.monotonic() + 5
    while got.count(b"--frame") < 10 and time.monotonic() < deadline:
        got += watcher.recv(65536)
    assert got.count(b"--frame") >= 10, "a second viewer keeps getting pictures beside a stalled one"
    third = _open_mjpeg(daemon)  # max_viewers = 2
    assert third.recv(12).startswith(b"HTTP/1.1 503")
    for s in (stalled, watcher, third):
        s.close()

    def both_slots_free() -> bool:
        socks = [_open_mjpeg(daemon) for _ in range(2)]
        try:
            return all(s.recv(12) == b"HTTP/1.1 200" for s in socks)
        finally:
            for s in socks:
                s.close()

    wait_until(both_slots_free, 15, what="every viewer slot back once its viewers left")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_the_page_shows_a_camera_go_down_and_come_back(
    tmp_path: Path,
    rtsp_server: RtspServerFactory,
    daemon_process: DaemonFactory,
) -> None:
    from playwright.sync_api import sync_playwright

    camera = rtsp_server()
    ports = Ports()
    data = config_data(ports, tiny_models(tmp_path / "models"), [{"name": "cam", "source": camera.url()}])
    data["capture"] = {"open_timeout_s": 2.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0}
    data["preview"] = {"enabled": True, "fps": 10}
    start_daemon(daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=("cam",))
    state = ".stream[data-stream='cam'] .state"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"http://{ports.listen}/")
            page.wait_for_function(f"document.querySelector(\"{state}\")?.textContent === 'up'", timeout=30_000)
            camera.kill()
            page.wait_for_function(f"document.querySelector(\"{state}\")?.textContent !== 'up'", timeout=30_000)
            assert page.inner_text(state) in ("backoff", "connecting")
            camera.start()
            page.wait_for_function(f"document.querySelector(\"{state}\")?.textContent === 'up'", timeout=30_000)
            img = page.locator(".stream[data-stream='cam'] img")
            first = img.screenshot()
            time.sleep(1.0)
            assert img.screenshot() != first, "the picture is live again"
        finally:
            browser.close()

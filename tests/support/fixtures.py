"""Pytest fixtures for real-parts tests; registered by ``tests/conftest.py``.

Fixtures that start something return a factory, so a test chooses the arguments and may start
several; everything started is stopped at teardown, also when the test failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from tests.support import procs
from tests.support.media import Clips, build_clips
from tests.support.procs import DaemonProcess
from tests.support.prometheus import PrometheusServer
from tests.support.rtsp import FAST_RTSP_CAPTURE_OPTIONS, RtspServer
from tests.support.tools import require_ffmpeg, require_gst_rtsp, require_prometheus


class RtspServerFactory(Protocol):
    """Starts an RTSP server; no clips means the session's 2 s H.264 clip at ``/cam0``."""

    def __call__(
        self,
        clips: Mapping[str, str | Path] | Sequence[str | Path] | None = None,
        /,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> RtspServer: ...


class PrometheusFactory(Protocol):
    """Starts Prometheus scraping ``targets`` (``host:port``) every second."""

    def __call__(self, targets: Sequence[str], *, rule_files: Sequence[str | Path] = ()) -> PrometheusServer: ...


class DaemonFactory(Protocol):
    """Starts a process (``argv``, ``env`` laid over the environment) stopped at teardown."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stop_timeout: float = 10.0,
    ) -> DaemonProcess: ...


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    """The session's test clips, built once (under a second)."""
    require_ffmpeg()
    return build_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def clips_dir(clips: Clips) -> Path:
    """Directory holding the session's test clips (names in ``Clips``)."""
    return clips.directory


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return procs.free_port()


@pytest.fixture
def fast_rtsp_capture(monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets OpenCV's FFmpeg capture options for quick RTSP opens and 2 s read timeouts."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", FAST_RTSP_CAPTURE_OPTIONS)
    return FAST_RTSP_CAPTURE_OPTIONS


@pytest.fixture
def rtsp_server(clips: Clips) -> Iterator[RtspServerFactory]:
    """Factory of started RTSP servers (see ``RtspServerFactory``)."""
    require_gst_rtsp()
    servers: list[RtspServer] = []

    def start(
        clip_map: Mapping[str, str | Path] | Sequence[str | Path] | None = None,
        /,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> RtspServer:
        server = RtspServer([clips.h264] if clip_map is None else clip_map, user=user, password=password)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def prometheus_server() -> Iterator[PrometheusFactory]:
    """Factory of started Prometheus servers (see ``PrometheusFactory``)."""
    require_prometheus()
    servers: list[PrometheusServer] = []

    def start(targets: Sequence[str], *, rule_files: Sequence[str | Path] = ()) -> PrometheusServer:
        server = PrometheusServer(targets, rule_files=rule_files)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def daemon_process(tmp_path: Path) -> Iterator[DaemonFactory]:
    """Factory of started processes whose logs live in ``tmp_path/daemon<N>/``."""
    daemons: list[DaemonProcess] = []

    def start(
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stop_timeout: float = 10.0,
    ) -> DaemonProcess:
        log_dir = tmp_path / f"daemon{len(daemons)}"
        daemon = DaemonProcess(argv, env=env, cwd=cwd, stop_timeout=stop_timeout, log_dir=log_dir)
        daemons.append(daemon)
        return daemon.start()

    yield start
    for daemon in daemons:
        daemon.stop()  # idempotent; also reaps one that exited by itself

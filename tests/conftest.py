"""Shared fixtures: registered here, defined in ``tests.support.fixtures``."""

from tests.support.fixtures import (
    clips,
    clips_dir,
    daemon_process,
    fast_rtsp_capture,
    free_port,
    prometheus_server,
    rtsp_server,
)

__all__ = [
    "clips",
    "clips_dir",
    "daemon_process",
    "fast_rtsp_capture",
    "free_port",
    "prometheus_server",
    "rtsp_server",
]

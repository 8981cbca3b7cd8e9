"""Which external tools the real-parts tests need, and skipping (or failing, in CI) when one is absent.

Locally a missing tool skips the test with the reason and the Debian package to install. Where
``STREAMER_REQUIRE_TOOLS=1`` or ``CI=true`` is set, a missing tool fails the test instead, so CI
cannot pass by skipping everything real.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from tests.support.media import ffmpeg_path
from tests.support.prometheus import prometheus_path
from tests.support.rtsp import SYSTEM_PYTHON

# The GStreamer elements the RTSP server's launch string uses, and the plugin packages holding them.
_GST_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("filesrc", "qtdemux", "h264parse", "rtph264pay") if Gst.ElementFactory.find(e) is None]
print(" ".join(missing))
"""


def tools_required() -> bool:
    """Whether a missing tool must fail tests rather than skip them."""
    return os.environ.get("STREAMER_REQUIRE_TOOLS") == "1" or os.environ.get("CI", "").lower() == "true"


def _missing(reason: str) -> None:
    if tools_required():
        pytest.fail(f"{reason} (required: STREAMER_REQUIRE_TOOLS=1 or CI=true)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def gst_rtsp_problem() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None if it can."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found (Debian python3 with python3-gi)"
    try:
        probe = subprocess.run(
            [SYSTEM_PYTHON, "-c", _GST_PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return (
            f"GstRtspServer unavailable to {SYSTEM_PYTHON} ({last}); "
            "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0"
        )
    if probe.stdout.strip():
        return (
            f"GStreamer elements missing: {probe.stdout.strip()}; "
            "apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
        )
    return None


def require_ffmpeg() -> None:
    """Skip (or fail) unless the ffmpeg binary is installed."""
    if ffmpeg_path() is None:
        _missing("ffmpeg not found; apt-get install ffmpeg")


def require_gst_rtsp() -> None:
    """Skip (or fail) unless Debian's python3 can run the GStreamer RTSP server."""
    problem = gst_rtsp_problem()
    if problem is not None:
        _missing(problem)


def require_prometheus() -> None:
    """Skip (or fail) unless the prometheus binary is installed."""
    if prometheus_path() is None:
        _missing("prometheus not found; apt-get install prometheus")

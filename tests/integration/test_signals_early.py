"""Signals at every phase of start-up: SIGTERM at any moment exits 0 within 5 s; SIGHUP before the
daemon is up is harmless (no death by the default action, -1 or -15, no traceback)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.robust_rig import Ports, config_data, daemon_argv, file_stream, tiny_models, write_config
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import port_open, wait_until

pytestmark = pytest.mark.integration

# From the imports (pydantic, OpenCV, ONNX Runtime: about 0.1-0.5 s) to well after the first results.
# Earlier than about 40-60 ms after exec the interpreter itself is still starting and runs no
# Python code yet: a signal then takes the default action in any Python program (measured 34-55 ms
# on a loaded 2-core machine; docs/reliability.md).
DELAYS_S = (0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)
STOP_WITHIN_S = 5.0


@pytest.fixture
def config(tmp_path: Path, clips: Clips) -> tuple[Path, Ports]:
    ports = Ports()
    path = write_config(
        tmp_path / "signals.toml",
        config_data(ports, tiny_models(tmp_path / "models"), [file_stream("a", clips.h264_long)]),
    )
    return path, ports


@pytest.mark.parametrize("delay", DELAYS_S)
def test_sigterm_at_any_moment_exits_0(delay: float, config: tuple[Path, Ports], daemon_process: DaemonFactory) -> None:
    path, _ = config
    proc = daemon_process(daemon_argv(path))
    time.sleep(delay)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(STOP_WITHIN_S + 5)
    took = time.monotonic() - t0
    logs = proc.stderr_text()
    assert rc == 0, f"SIGTERM after {delay} s: exit {rc}\n{logs[-2000:]}"
    assert took < STOP_WITHIN_S, f"SIGTERM after {delay} s took {took:.2f} s to exit"
    assert "Traceback" not in logs


@pytest.mark.parametrize("delay", (0.1, 0.2, 0.3, 1.0))
def test_early_sighup_is_harmless(delay: float, config: tuple[Path, Ports], daemon_process: DaemonFactory) -> None:
    path, ports = config
    proc = daemon_process(daemon_argv(path))
    time.sleep(delay)
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: not proc.running() or port_open("127.0.0.1", ports.http_port), 20, 0.05, "metrics port")
    assert proc.running(), f"SIGHUP after {delay} s killed it: exit {proc.returncode}\n{proc.stderr_text()[-2000:]}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(STOP_WITHIN_S) == 0
    assert "Traceback" not in proc.stderr_text()

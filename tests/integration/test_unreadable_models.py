"""A models directory or model file the daemon's user cannot read (a root-only folder under a systemd
``DynamicUser``): ``run`` and ``check`` exit 2 with one line naming the path; a reload to it is
refused with a clear error while the running configuration keeps serving.

As root, permissions do not apply; the daemon then runs without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (``setpriv``), which makes a directory or file owned by ``nobody`` with mode
0700/0600 unreadable to it, exactly as for an unprivileged user.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.robust_rig import Ports, config_data, file_stream, start_daemon, tiny_models, write_config
from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import DaemonProcess, wait_until
from tests.support.tools import tools_required

pytestmark = pytest.mark.integration

NOBODY = 65534


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` run so that file permissions apply to it."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        reason = "running as root without setpriv (Debian package: util-linux): no file is unreadable to it"
        if tools_required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]


def lock(path: Path, mode: int) -> None:
    """Make ``path`` unreadable to the daemon: owned by nobody with ``mode`` when we are root (the
    daemon then runs without root's override), else no permission at all for its owner, us."""
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)
        path.chmod(mode)
    else:
        path.chmod(0)


@pytest.fixture
def models(tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    m = tiny_models(tmp_path / "models")
    yield m
    (tmp_path / "models").chmod(0o755)


@pytest.mark.parametrize("what", ["directory", "file"])
@pytest.mark.parametrize("command", ["check", "run"])
def test_unreadable_model_is_exit_2_with_one_line(
    what: str, command: str, tmp_path: Path, clips: Clips, models: dict[str, dict[str, str]]
) -> None:
    cls = Path(models["cls"]["path"])
    lock(cls.parent if what == "directory" else cls, 0o700 if what == "directory" else 0o600)
    path = write_config(tmp_path / "c.toml", config_data(Ports(), models, [file_stream("a", clips.h264)]))
    argv = unprivileged([sys.executable, "-m", "streamer", command, "--config", str(path)])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("streamer: error:")]
    assert len(errors) == 1 and str(cls) in errors[0] and "permission denied" in errors[0], out.stderr
    assert "Traceback" not in out.stderr


def test_reload_to_an_unreadable_model_is_refused_and_the_old_config_runs_on(
    tmp_path: Path, clips: Clips, models: dict[str, dict[str, str]], daemon_process: DaemonFactory
) -> None:
    ports = Ports()
    path = write_config(tmp_path / "c.toml", config_data(ports, models, [file_stream("a", clips.h264_long)]))

    def start(argv: list[str], env: dict[str, str] | None = None) -> DaemonProcess:
        return daemon_process(unprivileged(argv), env=env)

    running = start_daemon(start, path, ports, wait_streams=("a",))
    try:
        locked = tmp_path / "locked"
        locked.mkdir()
        shutil.copy(models["cls"]["path"], locked / "cls.onnx")
        lock(locked, 0o700)
        bad = {**models, "cls": {"path": str(locked / "cls.onnx")}}
        write_config(path, config_data(ports, bad, [file_stream("a", clips.h264_long)]))
        running.proc.send_signal(signal.SIGHUP)
        errors = wait_until(lambda: running.sub.statuses("config_error"), 15, 0.05, "config_error")
        detail = errors[0].body["detail"]
        assert "permission denied" in detail and str(locked / "cls.onnx") in detail, detail
        since = errors[0].t_recv
        wait_until(lambda: len(running.sub.results("a", since + 0.5)) > 5, 10, 0.1, "a keeps running")
        logs = running.logs()
        assert "reload failed, keeping the running configuration" in logs
        assert "Traceback" not in logs and "internal error" not in logs
        locked.chmod(0o755)
    finally:
        running.sub.close()

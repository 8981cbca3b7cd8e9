"""A process killed mid-clip leaves no file under a clip's final name; the next start clears its temporary."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from streamer.clip_store import ClipStore
from streamer.clip_writer import ClipWriter
from tests.support.procs import spawn, terminate, wait_until

pytestmark = pytest.mark.integration


def test_killed_mid_clip(tmp_path: Path) -> None:
    root = tmp_path / "clips"
    root_dir = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root_dir), os.environ.get("PYTHONPATH", "")])}
    child = spawn([sys.executable, "-m", "tests.integration.clip_crash_child", str(root)], env=env)
    try:
        # Wait until the writer has put real video on disk (past the MP4 header) under the temporary name.
        part = wait_until(
            lambda: next((p for p in root.rglob(".*.mp4.part") if p.stat().st_size > 200_000), None),
            timeout=60,
            what="a clip half written",
        )
        assert not list(root.rglob("*.mp4")) and not list(root.rglob("*.json"))
    finally:
        assert terminate(child, sig=signal.SIGKILL) == -signal.SIGKILL
    assert part.exists()
    assert [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".part")] == []

    writer = ClipWriter(ClipStore(root, 2**30), lambda e: None)
    writer.start()  # a daemon starting again on the same directory
    assert writer.stop()
    assert [p for p in root.rglob("*") if p.is_file()] == []

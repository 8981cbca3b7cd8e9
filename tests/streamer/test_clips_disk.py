"""Clips on a failing disk: full, read-only, in the way. Each clip lost is counted, logged once per
episode, leaves no file under a final name, and the recorder goes on taking frames."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.clip_events import ClipDone, ClipError, ClipFailed
from tests.support.clipframes import noisy
from tests.support.cliprig import Rig


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real file system of 96 KiB (tmpfs): real ENOSPC and EROFS from the kernel. Needs root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def remount(mnt: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True)


def events(rig: Rig) -> tuple[list[ClipDone], list[ClipFailed]]:
    rig.writer.stop()
    return [e for e in rig.told if isinstance(e, ClipDone)], [e for e in rig.told if isinstance(e, ClipFailed)]


def finals(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_a_full_disk_loses_clips_counted_and_logged_once(tiny_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(tiny_fs)
    rig.picture = noisy
    rig.writer.start()
    with caplog.at_level(logging.INFO, logger="streamer"):
        rig.feed(range(650), person={100, 250, 400})
        _, failed = events(rig)
    assert [f.reason for f in failed] == [ClipError.NO_SPACE] * 3
    assert rig.writer.counts().errors == {ClipError.NO_SPACE: 3}
    assert finals(tiny_fs) == [] and not list(tiny_fs.rglob("*.part"))  # the half-written one is removed
    lines = [r.getMessage() for r in caplog.records if "clips are lost" in r.getMessage()]
    assert len(lines) == 1 and "No space left on device" in lines[0]


def test_a_disk_back_with_room_ends_the_episode(tiny_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(tiny_fs)
    rig.picture = noisy
    rig.writer.start()
    with caplog.at_level(logging.INFO, logger="streamer"):
        rig.feed(range(0, 200), person={100})
        deadline = time.monotonic() + 30
        while not any(isinstance(e, ClipFailed) for e in rig.told) and time.monotonic() < deadline:
            time.sleep(0.05)
        remount(tiny_fs, "size=64m")  # an operator makes room while the daemon runs
        rig.feed(range(200, 400), person={300})
        done, failed = events(rig)
    assert [f.reason for f in failed] == [ClipError.NO_SPACE] and len(done) == 1
    assert sorted(finals(tiny_fs)) == [Path(done[0].path).with_suffix(".json"), Path(done[0].path)]
    assert any("writing again after no_space" in r.getMessage() for r in caplog.records)


def test_a_read_only_disk(tiny_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tiny_fs / "cam").mkdir()
    remount(tiny_fs, "ro")
    rig = Rig(tiny_fs)
    rig.writer.start()
    with caplog.at_level(logging.INFO, logger="streamer"):
        rig.feed(range(600), person={100, 300, 500})
        _, failed = events(rig)
    assert [f.reason for f in failed] == [ClipError.READ_ONLY] * 3
    assert len([r for r in caplog.records if "clips are lost" in r.getMessage()]) == 1


def test_a_file_in_the_way_of_the_directory(tmp_path: Path) -> None:
    (tmp_path / "clips").write_text("not a directory")
    rig = Rig(tmp_path / "clips" / "sub")
    rig.writer.start()
    rig.feed(range(300), person={100})
    _, failed = events(rig)
    assert [f.reason for f in failed] == [ClipError.NO_DIR]
    assert rig.writer.counts().errors == {ClipError.NO_DIR: 1}

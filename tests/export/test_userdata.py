"""``--data DIR``: a user's folder of clips, including a corrupt one, and the errors for bad layouts."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from export.cli import main
from export.errors import DataError
from export.scenes import Scene, Segment
from export.userdata import load_folder


def _write_clip(path: Path, shape: str, motion: str, frames: int, seed: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (320, 240))
    assert writer.isOpened()
    for frame in Scene([seed], [Segment(shape, motion, frames)]).frames():
        writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of two generated clips each, plus one corrupt file."""
    root = tmp_path_factory.mktemp("footage")
    for k, (label, shape, motion) in enumerate([("walk", "circle", "right"), ("wait", "square", "still")]):
        (root / label).mkdir()
        for i in range(2):
            _write_clip(root / label / f"clip{i}.avi", shape, motion, 20, seed=10 * k + i)
    (root / "walk" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return root


def test_load_skips_and_counts_corrupt_clip(clip_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        data = load_folder(clip_folder, (72, 96), seq_len=16, seed=0)
    assert data.skipped == 1
    assert any("broken.mp4" in r.getMessage() for r in caplog.records)
    assert data.labels == ("wait", "walk")
    assert data.train.num_clips == 2 and data.heldout.num_clips == 2
    assert data.train.images.shape[1:] == (72, 96, 3)


def test_train_on_folder(clip_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--models", str(tmp_path), "--data", str(clip_folder), "--quick", "--cnn-steps", "3"]
    assert main([*argv, "--gru-steps", "3"]) == 0
    assert "frame_accuracy" in capsys.readouterr().out
    assert main(["export", "--models", str(tmp_path)]) == 0
    assert main(["verify", "--models", str(tmp_path)]) == 0


def test_short_clips_are_an_error(clip_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--models", str(tmp_path), "--data", str(clip_folder), "--seq-len", "30"])
    assert code == 2
    err = capsys.readouterr().err
    assert "fewer than the sequence length 30" in err and "Traceback" not in err


def test_empty_class_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_clip(tmp_path / "a" / "x.avi", "star", "up", 16, seed=1)
    with pytest.raises(DataError, match="'b' has no"):
        load_folder(tmp_path, (72, 96), seq_len=16, seed=0)


def test_one_class_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "only").mkdir()
    _write_clip(tmp_path / "only" / "x.avi", "star", "up", 16, seed=1)
    assert main(["train", "--models", str(tmp_path / "m"), "--data", str(tmp_path)]) == 2
    assert "at least 2 class folders" in capsys.readouterr().err


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    assert main(["train", "--models", str(tmp_path / "m"), "--data", str(tmp_path / "nope")]) == 2


def test_black_frames_still_load(tmp_path: Path) -> None:
    for label in ("x", "y"):
        (tmp_path / label).mkdir()
        writer = cv2.VideoWriter(str(tmp_path / label / "c.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
        for _ in range(16):
            writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.release()
    data = load_folder(tmp_path, (72, 96), seq_len=16, seed=0)
    assert data.skipped == 0 and len(data.train.images) == 32

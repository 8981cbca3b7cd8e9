"""The clip makers produce what OpenCV can, and cannot, read."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from tests.support.media import Clips, corrupt_file, make_h264_clip, make_mp4v_clip, truncate_file
from tests.support.tools import require_ffmpeg

pytestmark = pytest.mark.integration


def count_frames(path: Path) -> tuple[bool, int, tuple[int, ...]]:
    """(opened, frames read until the first failed read, shape of the first frame)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        opened = cap.isOpened()
        frames, shape = 0, ()
        while opened:
            ok, frame = cap.read()
            if not ok:
                break
            shape = shape or frame.shape
            frames += 1
        return opened, frames, shape
    finally:
        cap.release()


@pytest.mark.parametrize(
    ("name", "opens", "frames"),
    [
        ("h264", True, Clips.H264_FRAMES),
        ("h264_long", True, Clips.H264_LONG_FRAMES),
        ("mp4v", True, Clips.MP4V_FRAMES),
        ("truncated_no_index", False, 0),
        ("zero_length", False, 0),
    ],
)
def test_clip_opens_with_expected_frames(clips: Clips, name: str, opens: bool, frames: int) -> None:
    opened, read, shape = count_frames(getattr(clips, name))
    assert (opened, read) == (opens, frames)
    if frames:
        assert shape == (240, 320, 3)


def test_truncated_clip_opens_then_ends_early(clips: Clips) -> None:
    opened, read, _ = count_frames(clips.truncated)
    assert opened
    assert 0 < read < Clips.H264_LONG_FRAMES


def test_corrupt_clip_opens_then_fails_in_the_middle(clips: Clips) -> None:
    opened, read, _ = count_frames(clips.corrupt)
    assert opened
    assert read < Clips.MP4V_FRAMES
    original, damaged = clips.mp4v.read_bytes(), clips.corrupt.read_bytes()
    quarter = len(original) // 4
    assert len(damaged) == len(original)
    assert damaged[:quarter] == original[:quarter]  # header kept
    assert damaged[-quarter:] == original[-quarter:]  # index kept
    assert damaged != original


@pytest.mark.parametrize("name", ["still_png", "still_jpg"])
def test_still_images(clips: Clips, name: str) -> None:
    image = cv2.imread(str(getattr(clips, name)))
    assert image is not None
    assert image.shape == (240, 320, 3)


def test_makers_honour_size_and_rate(tmp_path: Path) -> None:
    require_ffmpeg()
    h264 = make_h264_clip(tmp_path / "small.mp4", 1, fps=10, size=(160, 96), pattern="mandelbrot")
    assert count_frames(h264) == (True, 10, (96, 160, 3))
    mp4v = make_mp4v_clip(tmp_path / "small_mp4v.mp4", 12, fps=12.0, size=(176, 144))
    assert count_frames(mp4v) == (True, 12, (144, 176, 3))
    cap = cv2.VideoCapture(str(mp4v), cv2.CAP_FFMPEG)
    try:
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    finally:
        cap.release()


def test_truncate_and_corrupt_are_deterministic(clips: Clips, tmp_path: Path) -> None:
    assert truncate_file(clips.h264, tmp_path / "t.mp4", 0.25).stat().st_size == clips.h264.stat().st_size // 4
    first = corrupt_file(clips.h264, tmp_path / "a.mp4", seed=3).read_bytes()
    assert first == corrupt_file(clips.h264, tmp_path / "b.mp4", seed=3).read_bytes()
    assert first != corrupt_file(clips.h264, tmp_path / "c.mp4", seed=4).read_bytes()
    with pytest.raises(ValueError, match="fraction"):
        truncate_file(clips.h264, tmp_path / "bad.mp4", 1.5)

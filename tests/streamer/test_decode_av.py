"""The PyAV decoder behind capture's VideoCapture subset, on real encoded files."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import cv2
import pytest

from streamer.config import parse_config
from streamer.decode_av import AvCapture, capture_options
from streamer.errors import ConfigError
from tests.support.media import Clips, make_resizing_clip
from tests.support.tools import require_ffmpeg

pytest.importorskip("av")


def frames(cap: AvCapture | cv2.VideoCapture, misses: int = 30) -> tuple[int, list[tuple[int, int]]]:
    """Frames read until ``misses`` failed reads in a row, and the sizes seen in order."""
    count, failed = 0, 0
    sizes: list[tuple[int, int]] = []
    while failed < misses:
        if not cap.grab():
            failed += 1
            continue
        failed = 0
        ok, image = cap.retrieve()
        assert ok and image is not None
        count += 1
        size = (image.shape[1], image.shape[0])
        if not sizes or sizes[-1] != size:
            sizes.append(size)
    return count, sizes


def test_capture_options_read_opencvs_format() -> None:
    assert capture_options("rtsp_transport;tcp|timeout;2000000") == {"rtsp_transport": "tcp", "timeout": "2000000"}
    assert capture_options("") == {}
    assert capture_options("junk|a;b") == {"a": "b"}


def test_reads_rewinds_and_declares_like_opencv(clips: Clips) -> None:
    for clip in (clips.h264, clips.mp4v, clips.truncated, clips.corrupt):
        ours, theirs = AvCapture(str(clip), 5.0, 3.0), cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
        try:
            assert ours.isOpened()
            assert ours.get(cv2.CAP_PROP_FPS) == pytest.approx(theirs.get(cv2.CAP_PROP_FPS))
            assert ours.get(cv2.CAP_PROP_FRAME_COUNT) == theirs.get(cv2.CAP_PROP_FRAME_COUNT)
            assert frames(ours) == frames(theirs), clip.name  # the same frames, also past damage
            assert ours.set(cv2.CAP_PROP_POS_FRAMES, 0)
            assert frames(ours)[0] == frames(AvCapture(str(clip), 5.0, 3.0))[0]
        finally:
            ours.release()
            theirs.release()


def test_a_file_that_is_not_a_video_does_not_open(tmp_path: Path, clips: Clips) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(range(256)) * 64)
    for path in (noise, clips.zero_length, tmp_path / "missing.mp4"):
        cap = AvCapture(str(path), 2.0, 2.0)
        assert not cap.isOpened() and not cap.grab()
        cap.release()


def test_frames_come_at_their_own_size(tmp_path: Path) -> None:
    """One H.264 stream that changes resolution: PyAV gives each size, OpenCV the first size only."""
    require_ffmpeg()
    clip = make_resizing_clip(tmp_path / "resizing.mp4", [(320, 240), (640, 360)], seconds=1)
    assert frames(AvCapture(str(clip), 5.0, 3.0)) == (50, [(320, 240), (640, 360)])
    assert frames(cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)) == (50, [(320, 240)])  # why decoder = "pyav"


@pytest.mark.parametrize("seed", range(4))
def test_damaged_files_never_raise(tmp_path: Path, clips: Clips, seed: int) -> None:
    """Random bytes, flipped bytes and cut files: opening, reading and rewinding only say False."""
    rng = random.Random(seed)
    sources = [clips.h264.read_bytes(), clips.mp4v.read_bytes()]
    for i in range(30):
        data = bytearray(rng.choice(sources))
        if i % 3 == 0:
            data = bytearray(rng.randbytes(rng.randint(0, 50_000)))
        elif i % 3 == 1:
            for _ in range(rng.randint(1, 50)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = data[: rng.randint(0, len(data))]
        path = tmp_path / f"damaged{i}.mp4"
        path.write_bytes(bytes(data))
        cap = AvCapture(str(path), 2.0, 2.0)
        frames(cap, misses=10)
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        frames(cap, misses=10)
        cap.release()


def test_choosing_pyav_without_it_installed_is_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    data = {"models": {"m": {"path": "x"}}, "capture": {"decoder": "pyav"}}
    with pytest.raises(ConfigError, match=r'c.toml: capture: .*decoder = "pyav" needs PyAV') as info:
        parse_config(data, Path("."), "c.toml")
    assert "\n" not in str(info.value)
    parse_config({**data, "capture": {"decoder": "opencv"}}, Path("."), "c.toml")

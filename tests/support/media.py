"""Test media: real encoded clips (H.264 via ffmpeg, MPEG-4 Part 2 via OpenCV) and broken inputs."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from streamer.records import Image

FFMPEG = "ffmpeg"
FASTSTART = ("-movflags", "+faststart")


def ffmpeg_path() -> str | None:
    """Path of the ffmpeg binary, or None if it is not installed."""
    return shutil.which(FFMPEG)


def make_h264_clip(
    path: str | Path,
    seconds: float,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    pattern: str = "testsrc2",
    *,
    extra: Sequence[str] = (),
) -> Path:
    """An H.264 baseline mp4 from an ffmpeg lavfi source (``testsrc2``, ``smptebars``, ``mandelbrot``...).

    One keyframe per second and no B-frames, as a camera sends; each frame of ``testsrc2`` differs.
    ``extra`` output options come last: :data:`FASTSTART` (the mp4 index first, so a truncated copy
    still opens), a colour standard's tags, another ``-pix_fmt``, a filter.
    """
    path = Path(path)
    width, height = size
    subprocess.run(
        [
            FFMPEG, "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"{pattern}=size={width}x{height}:rate={fps}",
            "-t", f"{seconds}", "-an",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", str(fps), "-bf", "0", "-profile:v", "baseline",
            *extra,
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return path


def make_resizing_clip(path: str | Path, sizes: list[tuple[int, int]], seconds: float = 2, fps: int = 25) -> Path:
    """One H.264 stream in an mp4 that changes resolution: ``seconds`` at each of ``sizes`` in turn.

    The parts are joined as an Annex B stream (each part carries its own SPS/PPS in band) and
    muxed without re-encoding, so the container declares the first size only, as a camera's
    recording would after its resolution was changed.
    """
    path = Path(path)
    raw = []
    for i, size in enumerate(sizes):
        part = make_h264_clip(path.with_name(f"{path.stem}.part{i}.mp4"), seconds, fps, size)
        annexb = subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", "-i", str(part), "-c", "copy", "-bsf:v", "h264_mp4toannexb",
             "-f", "h264", "-"],
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        part.unlink()
        raw.append(annexb)
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-r", str(fps), "-f", "h264", "-i", "-", "-c", "copy", str(path)],
        input=b"".join(raw), check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path


def make_mp4v_clip(
    path: str | Path,
    frames: int,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> Path:
    """An MPEG-4 Part 2 (``mp4v``) file written by OpenCV: a white square moving over noise."""
    path = Path(path)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    rng = np.random.default_rng(seed)
    side = max(8, min(width, height) // 6)
    try:
        for index in range(frames):
            image = rng.integers(0, 96, size=(height, width, 3), dtype=np.uint8)
            x = (index * 7) % max(1, width - side)
            y = (index * 3) % max(1, height - side)
            image[y : y + side, x : x + side] = 255
            writer.write(image)
    finally:
        writer.release()
    return path


def truncate_file(src: str | Path, dst: str | Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src`` to ``dst`` (a download cut short)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def corrupt_file(src: str | Path, dst: str | Path, seed: int = 0, start: float = 0.25, end: float = 0.75) -> Path:
    """Copy ``src`` to ``dst`` with random bytes over the part between ``start`` and ``end`` (fractions).

    The head and tail (container header, and an mp4's index, which ffmpeg writes at the end) stay
    intact, so the file still opens but frames in the middle decode to garbage or errors.
    """
    data = bytearray(Path(src).read_bytes())
    lo, hi = int(len(data) * start), int(len(data) * end)
    data[lo:hi] = random.Random(seed).randbytes(hi - lo)
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst


def make_zero_length(path: str | Path) -> Path:
    """An empty file."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def make_still_image(path: str | Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A still image (format from the suffix: .png, .jpg) with a gradient and a square."""
    path = Path(path)
    width, height = size
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    image[:, :, 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    image[height // 4 : height // 2, width // 4 : width // 2] = 255
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"cv2.imwrite cannot write {path}")
    return path


def decode_image(data: bytes) -> Image:
    """Encoded image bytes (JPEG, PNG) decoded by OpenCV to 8-bit BGR; an AssertionError if they do not decode."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise AssertionError(f"{len(data)} bytes do not decode as an image")
    # IMREAD_COLOR always yields 8 bits per channel, whatever the file's depth.
    return cast(Image, decoded)


@dataclass(frozen=True)
class Clips:
    """The clips built once per test session (see ``build_clips``)."""

    directory: Path
    h264: Path  # 2 s, 25 fps, 320x240, testsrc2: 50 frames, loops every 2 s over RTSP
    h264_long: Path  # 6 s, 25 fps, 320x240, smptebars, index first (faststart)
    mp4v: Path  # 50 frames, 25 fps, 320x240, moving square over noise
    truncated: Path  # first half of h264_long: opens, claims 150 frames, ends early (~50)
    truncated_no_index: Path  # first half of h264 (its index is at the end): does not open
    corrupt: Path  # mp4v with its middle half overwritten by noise: opens, reads a few frames
    zero_length: Path
    still_png: Path
    still_jpg: Path

    H264_FRAMES = 50
    H264_LONG_FRAMES = 150
    MP4V_FRAMES = 50
    FPS = 25
    SIZE = (320, 240)


def build_clips(directory: str | Path) -> Clips:
    """Build the session's clips in ``directory`` (about half a second on two cores)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    h264 = make_h264_clip(directory / "testsrc2_2s.mp4", 2, Clips.FPS, Clips.SIZE)
    h264_long = make_h264_clip(directory / "bars_6s.mp4", 6, Clips.FPS, Clips.SIZE, "smptebars", extra=FASTSTART)
    mp4v = make_mp4v_clip(directory / "square_50f.mp4", Clips.MP4V_FRAMES, Clips.FPS, Clips.SIZE)
    return Clips(
        directory=directory,
        h264=h264,
        h264_long=h264_long,
        mp4v=mp4v,
        truncated=truncate_file(h264_long, directory / "truncated.mp4", 0.5),
        truncated_no_index=truncate_file(h264, directory / "truncated_no_index.mp4", 0.5),
        corrupt=corrupt_file(mp4v, directory / "corrupt.mp4", seed=1),
        zero_length=make_zero_length(directory / "empty.mp4"),
        still_png=make_still_image(directory / "still.png"),
        still_jpg=make_still_image(directory / "still.jpg"),
    )

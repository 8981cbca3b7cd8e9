"""Frames for clip tests: each carries its index as a row of black and white blocks a decoder can read back."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import av
import numpy as np

from streamer.records import FrameInfo, Image

BITS = 10
T0 = 1000.0  # monotonic capture time of frame 0
WALL0 = 1_800_000_000.0


def image(index: int, size: tuple[int, int] = (640, 360)) -> Image:
    """A grey frame with ``index`` in binary as ``BITS`` blocks along its top edge."""
    width, height = size
    img = np.full((height, width, 3), 96, np.uint8)
    block = width // BITS
    for bit in range(BITS):
        if index >> bit & 1:
            img[:block, bit * block : (bit + 1) * block] = 255
        else:
            img[:block, bit * block : (bit + 1) * block] = 0
    return img


def noisy(index: int, size: tuple[int, int] = (640, 360)) -> Image:
    """``image`` with noise below its index row: a frame no encoder can squeeze much."""
    img = image(index, size)
    top = size[0] // BITS
    img[top:] = np.random.default_rng(index).integers(0, 256, img[top:].shape, dtype=np.uint8)
    return img


def read_index(img: Image) -> int:
    width = img.shape[1]
    block = width // BITS
    value = 0
    for bit in range(BITS):
        patch = img[block // 4 : block * 3 // 4, bit * block + block // 4 : (bit + 1) * block - block // 4]
        if patch.mean() > 128:
            value |= 1 << bit
    return value


def info(
    index: int, fps: float = 25.0, stream: str = "cam", epoch: int = 0, size: tuple[int, int] = (640, 360)
) -> FrameInfo:
    return FrameInfo(stream, index, epoch, WALL0 + index / fps, T0 + index / fps, size[0], size[1])


def decode(path: Path) -> tuple[list[int], float, tuple[int, int], list[Image]]:
    """A written clip read back with PyAV: the indices of its frames, its duration, its size, the frames."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        # bgr24 is packed 8-bit, so every frame is a uint8 array.
        frames = [cast(Image, f.to_ndarray(format="bgr24")) for f in container.decode(stream)]
        duration = float(container.duration or 0) / av.time_base
        size = (stream.codec_context.width, stream.codec_context.height)
    return [read_index(f) for f in frames], duration, size, frames

"""The frame ring: bounded by seconds and bytes, results attached late, clip sizes."""

from __future__ import annotations

import pytest

from streamer.clip_ring import FRAME_OVERHEAD, ClipRing, clip_size, encode_frame
from tests.support.clipframes import image, info, read_index
from tests.support.media import decode_image


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ((1920, 1080), 640, (640, 360)),
        ((1280, 720), 640, (640, 360)),
        ((768, 576), 640, (640, 480)),
        ((320, 240), 640, (320, 240)),  # never upscaled
        ((1920, 1080), 500, (500, 280)),  # 281.25 -> even
        ((641, 481), 1000, (640, 480)),  # odd sizes made even for H.264
    ],
)
def test_clip_size(source: tuple[int, int], target: int, expected: tuple[int, int]) -> None:
    assert clip_size(*source, target) == expected


def test_encode_frame_downscales_and_keeps_the_picture() -> None:
    jpeg = encode_frame(image(613), 320, 85)
    back = decode_image(jpeg)
    assert back.shape == (180, 320, 3)
    assert read_index(back) == 613


def test_bounded_by_seconds() -> None:
    ring = ClipRing(seconds=1.0, max_bytes=2**30)
    for i in range(100):
        ring.add(info(i), b"x" * 100)
    kept = ring.since(0)
    assert [f.info.seq for f in kept] == list(range(74, 100))  # 25 fps: 1 s spans 26 frames
    assert ring.nbytes == 26 * (100 + FRAME_OVERHEAD) and ring.evicted_for_bytes == 0


def test_bounded_by_bytes() -> None:
    ring = ClipRing(seconds=60.0, max_bytes=10 * (1000 + FRAME_OVERHEAD))
    for i in range(50):
        ring.add(info(i), b"x" * 1000)
    assert len(ring) == 10 and ring.nbytes <= ring.max_bytes
    assert ring.evicted_for_bytes == 40
    big = ClipRing(seconds=60.0, max_bytes=100)
    big.add(info(0), b"x" * 1000)  # one frame larger than the cap still stays: the newest is kept
    assert len(big) == 1


def test_results_attach_to_their_frames() -> None:
    ring = ClipRing(seconds=10.0, max_bytes=2**30)
    for i in range(10):
        ring.add(info(i), b"j")
    assert ring.attach(info(7), {"seq": 7}) == 7
    assert ring.attach(info(3, epoch=1), {"seq": 3}) is None  # another epoch's frame 3
    assert ring.attach(info(42), {"seq": 42}) is None
    frames = ring.from_index(6)
    assert [f.index for f in frames] == [6, 7, 8, 9]
    assert [f.result for f in frames] == [None, {"seq": 7}, None, None]
    assert [f.index for f in ring.since(info(8).t_capture_mono)] == [8, 9]
    newest = ring.newest()
    assert newest is not None and newest.index == 9
    ring.clear()
    assert len(ring) == 0 and ring.nbytes == 0 and ring.newest() is None


def test_a_ring_needs_room() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        ClipRing(1.0, 0)

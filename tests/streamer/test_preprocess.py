"""Resize/letterbox maths against hand-computed values; normalisation and layout."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.modelspec import InputSpec, ResizeMode
from streamer.preprocess import Preprocessor, geometry, to_source
from streamer.records import Transform


@pytest.mark.parametrize(
    ("src", "dst", "resize", "transform", "resized"),
    [
        # 640x480 into 320x320 letterbox: scale 0.5, 320x240 content, 40 px bars top and bottom.
        ((640, 480), (320, 320), "letterbox", Transform(0.5, 0.5, 0.0, 40.0), (320, 240)),
        # 480x640 portrait into 320x320: scale 0.5, 240x320 content, 40 px bars left and right.
        ((480, 640), (320, 320), "letterbox", Transform(0.5, 0.5, 40.0, 0.0), (240, 320)),
        # 1280x720 into 640x640: scale 0.5, 640x360, pad (640-360)/2 = 140.
        ((1280, 720), (640, 640), "letterbox", Transform(0.5, 0.5, 0.0, 140.0), (640, 360)),
        # Upscale 160x120 into 640x640: scale 4, 640x480, pad 80.
        ((160, 120), (640, 640), "letterbox", Transform(4.0, 4.0, 0.0, 80.0), (640, 480)),
        # Stretch ignores the aspect ratio.
        ((640, 480), (224, 224), "stretch", Transform(0.35, 224 / 480, 0.0, 0.0), (224, 224)),
    ],
)
def test_geometry(
    src: tuple[int, int], dst: tuple[int, int], resize: ResizeMode, transform: Transform, resized: tuple[int, int]
) -> None:
    spec = InputSpec("x", height=dst[1], width=dst[0], resize=resize)
    t, size = geometry(src[0], src[1], spec)
    assert size == resized
    assert t.scale_x == pytest.approx(transform.scale_x)
    assert t.scale_y == pytest.approx(transform.scale_y)
    assert (t.pad_x, t.pad_y) == (transform.pad_x, transform.pad_y)


def test_to_source_undoes_letterbox_and_clips() -> None:
    t = Transform(0.5, 0.5, 0.0, 40.0)
    boxes = np.array([[10, 50, 110, 140], [-20, 0, 400, 400]], dtype=np.float32)
    out = to_source(boxes, t, 640, 480)
    np.testing.assert_allclose(out[0], [20, 20, 220, 200])
    np.testing.assert_allclose(out[1], [0, 0, 640, 480])  # clipped to the frame


def _image(h: int, w: int) -> np.ndarray:
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 100, 250  # BGR
    return img


def test_normalisation_colour_and_layout() -> None:
    spec = InputSpec("x", 8, 8, layout="NCHW", color_order="RGB", mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    pre = Preprocessor(spec)
    out = pre.buffer()
    pre(_image(16, 16), out)
    assert out.shape == (3, 8, 8) and out.dtype == np.float32
    # RGB order: channel 0 is red (250), 1 green (100), 2 blue (10).
    expected = [(250 / 255 - 0.5) / 0.25, (100 / 255 - 0.5) / 0.5, 10 / 255 - 0.5]
    np.testing.assert_allclose(out[:, 0, 0], expected, rtol=1e-5)


def test_nhwc_bgr_uint8_passes_pixels_through() -> None:
    spec = InputSpec("x", 4, 4, layout="NHWC", color_order="BGR", dtype="uint8")
    pre = Preprocessor(spec)
    out = pre.buffer()
    pre(_image(8, 8), out)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [10, 100, 250]


def test_letterbox_bars_are_grey_and_stay_grey_across_frames() -> None:
    spec = InputSpec("x", 32, 32, layout="NHWC", color_order="RGB", dtype="uint8", resize="letterbox")
    pre = Preprocessor(spec)
    out = pre.buffer()
    for _ in range(3):
        t = pre(_image(16, 32), out)
    assert t.pad_y == 8
    assert out[0, 0].tolist() == [114, 114, 114]
    assert out[31, 31].tolist() == [114, 114, 114]
    assert out[16, 16].tolist() == [250, 100, 10]

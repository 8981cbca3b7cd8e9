"""Resize/letterbox maths against hand-computed values; normalisation and layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.modelspec import InputSpec, ResizeMode
from streamer.preprocess import Preprocessor, geometry, halved, resize, to_source
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


def test_halved_stops_at_four_times_the_target_and_at_odd_sides() -> None:
    image = np.zeros((1080, 1920), dtype=np.uint8)
    assert halved(image, 224, 224).shape == (540, 960)  # 540 < 4 x 224: the supersampling does the rest
    assert halved(image, 96, 72).shape == (270, 480)  # 270 < 4 x 72
    assert halved(image[:1078], 96, 72).shape == (539, 960)  # 539 is odd: no further halving
    assert halved(image, 640, 360).shape == (1080, 1920)  # not 4x the target on both axes
    box = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    blocks = box.reshape(4, 2, 4, 2).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(halved(box, 2, 2) - blocks).max() <= 0.5  # each 2 x 2 block's mean, rounded


@pytest.mark.parametrize("size", [(224, 224), (96, 72), (320, 320), (640, 640), (300, 170)])
@pytest.mark.parametrize("freq", [(1.2, 0.9), (0.8, 0.5), (0.4, 0.3)])
def test_shrinking_is_close_to_a_true_area_average_and_does_not_alias(
    size: tuple[int, int], freq: tuple[float, float]
) -> None:
    """Fine patterns that a plain bilinear shrink turns into false ones; the fast path must give
    about what INTER_AREA (an exact area average, 10x slower) gives."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1080, 0:1920]
    pattern = 127 + 100 * np.sin(xx * freq[0]) * np.cos(yy * freq[1])
    image = np.clip(pattern + rng.normal(0, 8, pattern.shape), 0, 255).astype(np.uint8)
    exact = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    diff = np.abs(resize(image, size).astype(np.float32) - exact)
    aliased = np.abs(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR).astype(np.float32) - exact)
    assert diff.mean() < 3.0, diff.mean()
    assert aliased.mean() > 3 * diff.mean()  # the check can tell an aliased shrink apart

"""Preparing a model input from a decoder's planes, against converting the whole frame first,
on real H.264 frames in each colour standard and range a camera sends."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.decode_av import AvCapture, colour_matrix
from streamer.modelspec import InputSpec
from streamer.picture import Yuv420, picture_size
from streamer.preprocess import Preprocessor, resize, resize_picture
from streamer.records import Frame, FrameInfo
from tests.support.media import make_h264_clip
from tests.support.tools import require_ffmpeg

# Output options per tagging: BT.601 (untagged, as most encoders write), BT.709 (HD cameras) and
# full range (``yuvj420p``, as MJPEG-derived and some IP cameras send). Noise makes it camera-like.
TAGGINGS = {
    "bt601": ["-vf", "noise=alls=6:allf=t"],
    "bt709": ["-vf", "noise=alls=6:allf=t", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
    "full": ["-vf", "noise=alls=6:allf=t", "-pix_fmt", "yuvj420p"],
}


def pictures(path: Path, count: int = 6) -> list[Yuv420]:
    cap = AvCapture(str(path), 5.0, 5.0)
    out: list[Yuv420] = []
    try:
        while len(out) < count and cap.grab():
            picture = cap.retrieve_picture()
            assert isinstance(picture, Yuv420)
            out.append(picture)
    finally:
        cap.release()
    return out


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_ffmpeg()
    d = tmp_path_factory.mktemp("tagged")
    return {name: make_h264_clip(d / f"{name}.mp4", 0.4, 25, (640, 360), extra=opts) for name, opts in TAGGINGS.items()}


def test_the_colour_matrix_is_the_standards_own() -> None:
    # Recovered from FFmpeg's conversion, it must be the textbook map (to swscale's rounding).
    bt601 = colour_matrix("yuv420p", 2, 0)  # untagged: FFmpeg converts as BT.601, limited range
    np.testing.assert_allclose(bt601[:, 0], [1.164, 1.164, 1.164], atol=0.01)  # Y gain
    chroma = [bt601[0, 1], bt601[1, 1], bt601[1, 2], bt601[2, 2]]
    np.testing.assert_allclose(chroma, [2.018, -0.391, -0.813, 1.596], atol=0.03)
    bt709 = colour_matrix("yuv420p", 1, 1)
    np.testing.assert_allclose([bt709[1, 1], bt709[1, 2], bt709[2, 2]], [-0.213, -0.533, 1.793], atol=0.04)
    full = colour_matrix("yuvj420p", 2, 2)
    np.testing.assert_allclose(full[:, 0], [1.0, 1.0, 1.0], atol=0.01)
    assert full[2, 3] == pytest.approx(-1.402 * 128, abs=1.5)  # R offset: V centred on 128, no Y offset


@pytest.mark.parametrize("tagging", sorted(TAGGINGS))
@pytest.mark.parametrize("size", [(224, 224), (96, 72), (640, 360), (333, 187), (640, 640)])
def test_planes_resized_then_converted_match_the_whole_frame_converted_then_resized(
    tagged: dict[str, Path], tagging: str, size: tuple[int, int]
) -> None:
    for picture in pictures(tagged[tagging]):
        ours = resize_picture(picture, size).astype(np.int16)
        whole = resize(picture.convert(), size).astype(np.int16)
        error = np.abs(ours - whole)
        # A grey level or two on average (on 1080p frames about one); more only where a sharp
        # colour edge or the clip's chroma noise meets the chroma sampling, which the two orders of
        # resizing and converting average differently. A wrong matrix, range or plane order is off
        # by tens of levels.
        assert error.mean() < 2.5, (tagging, size, error.mean())
        assert np.percentile(error, 99) <= 30, (tagging, size, np.percentile(error, 99))


def test_a_frame_from_planes_is_converted_whole_only_when_asked(tagged: dict[str, Path]) -> None:
    picture = pictures(tagged["bt601"], 1)[0]
    calls = 0

    def convert() -> np.ndarray:
        nonlocal calls
        calls += 1
        return picture.convert()

    counted = Yuv420(picture.y, picture.u, picture.v, picture.matrix, convert)
    info = FrameInfo("s", 0, 0, 0.0, 0.0, *picture_size(counted))
    frame = Frame(info, yuv=counted)
    pre = Preprocessor(InputSpec("x", height=72, width=96))
    pre(frame.picture, pre.buffer())
    assert calls == 0  # preparing the model input converts no whole frame
    assert frame.image.shape == (360, 640, 3)
    assert frame.image is frame.image and calls == 1  # converted once, kept
    with pytest.raises(ValueError, match="needs an image or YUV planes"):
        Frame(info)


def test_the_model_input_from_planes_matches_the_one_from_the_converted_frame(tagged: dict[str, Path]) -> None:
    spec = InputSpec("x", height=224, width=224, layout="NCHW", color_order="RGB", resize="letterbox")
    pre = Preprocessor(spec)
    for picture in pictures(tagged["bt709"], 3):
        ours, theirs = pre.buffer(), pre.buffer()
        t1 = pre(picture, ours)
        t2 = pre(picture.convert(), theirs)
        assert t1 == t2
        # Normalised to unit std: two grey levels are about 0.03.
        assert float(np.abs(ours - theirs).mean()) < 0.03


@pytest.mark.parametrize(
    ("source", "size"),
    [((1920, 1080), (224, 224)), ((1920, 1080), (640, 360)), ((1280, 720), (96, 72)), ((640, 360), (160, 90))],
)
def test_planes_resized_together_equal_planes_resized_one_by_one(
    source: tuple[int, int], size: tuple[int, int]
) -> None:
    """Where the halved luma plane is the chroma planes' size the three are resized as one image:
    the same pixels as resizing each alone."""
    rng = np.random.default_rng(7)
    w, h = source
    y = rng.integers(0, 256, (h, w), dtype=np.uint8)
    u, v = (rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8) for _ in range(2))
    matrix = colour_matrix("yuv420p", 1, 1)  # BT.709, limited range
    picture = Yuv420(y, u, v, matrix, lambda: np.zeros((h, w, 3), np.uint8))
    one_by_one = np.dstack([resize(y, size), resize(u, size), resize(v, size)])
    expected = cv2.transform(one_by_one, matrix)
    assert np.array_equal(resize_picture(picture, size), expected)

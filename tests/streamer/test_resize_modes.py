"""Each resize mode against an independent reference, and detector boxes mapped back through each mode.

The references are written the way the model families' own tooling writes them (a ratio and
``cv2.copyMakeBorder`` as in the YOLO letterbox and in keep-ratio OCR/classifier pipelines,
``cvtColor`` and float maths per pixel), sharing only the daemon's supersampling resize, which
every mode keeps as its resize step.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest

from streamer.detectors import DetectorParams
from streamer.modelspec import DetectorFormat, InputSpec, ModelSpec, ResizeMode
from streamer.postprocess import detect
from streamer.preprocess import Preprocessor, resize
from streamer.records import Image
from tests import tinymodels

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FRAMES = [(640, 480), (1280, 720), (480, 640), (300, 300), (1000, 200), (91, 37)]  # (width, height)
INPUTS = [(224, 224), (192, 48), (320, 256)]  # (width, height)


def _frame(w: int, h: int, seed: int) -> Image:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _normalise(canvas_bgr: Image) -> npt.NDArray[np.float32]:
    rgb = cv2.cvtColor(canvas_bgr, cv2.COLOR_BGR2RGB).astype(np.float64) / 255.0
    chw = ((rgb - np.array(MEAN, np.float64)) / np.array(STD, np.float64)).transpose(2, 0, 1)
    return chw.astype(np.float32)


def reference(image: Image, mode: ResizeMode, size: tuple[int, int], fill: int) -> npt.NDArray[np.float32]:
    """The model input for ``image`` (BGR) as the authors' pipelines compute it, NCHW RGB normalised."""
    w, h = size
    if mode == "stretch":
        return _normalise(resize(image, (w, h)))
    r = min(h / image.shape[0], w / image.shape[1])
    new_w, new_h = round(image.shape[1] * r), round(image.shape[0] * r)
    content = resize(image, (new_w, new_h))
    if mode == "letterbox":  # centred, the odd pixel right/bottom (the YOLO letterbox)
        dw, dh = (w - new_w) / 2, (h - new_h) / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
    else:  # top-left, padded right and bottom
        top, left, bottom, right = 0, 0, h - new_h, w - new_w
    # Padding keeps the depth: uint8 in, uint8 out.
    canvas = cast(
        Image, cv2.copyMakeBorder(content, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(fill, fill, fill))
    )
    assert canvas.shape[:2] == (h, w)
    return _normalise(canvas)


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "pad"])
@pytest.mark.parametrize("size", INPUTS)
def test_each_mode_matches_its_reference(mode: ResizeMode, size: tuple[int, int]) -> None:
    fill = 114 if mode == "letterbox" else 0
    spec = InputSpec("x", size[1], size[0], mean=MEAN, std=STD, resize=mode)
    pre = Preprocessor(spec)
    out = pre.buffer()
    for i, (fw, fh) in enumerate(FRAMES):
        image = _frame(fw, fh, i)
        pre(image, out)
        np.testing.assert_allclose(out, reference(image, mode, size, fill), atol=2e-6, err_msg=f"{fw}x{fh}")


def test_pad_value_fills_the_right_and_bottom() -> None:
    spec = InputSpec("x", 48, 192, layout="NHWC", color_order="BGR", dtype="uint8", resize="pad", pad_value=128)
    pre = Preprocessor(spec)
    out = pre.buffer()
    t = pre(np.full((30, 40, 3), 255, np.uint8), out)  # 4:3 into 4:1: 64x48 content, 128 columns of padding
    assert (t.pad_x, t.pad_y, t.scale_x) == (0.0, 0.0, 1.6)
    assert (out[:, :64] == 255).all()
    assert (out[:, 64:] == 128).all()
    pre(np.full((10, 400, 3), 255, np.uint8), out)  # 40:1 into 4:1: 192x5 content, the rest padding
    assert (out[:5] == 255).all() and (out[5:] == 128).all()


BOXES = [(0.30, 0.25, 0.55, 0.60), (0.05, 0.70, 0.20, 0.95), (0.60, 0.05, 0.98, 0.30)]  # fractions of the frame


@pytest.fixture(scope="module")
def finder(tmp_path_factory: pytest.TempPathFactory) -> ort.InferenceSession:
    path = tinymodels.box_finder(tmp_path_factory.mktemp("m") / "finder.onnx", "yolov8", size=(96, 128))
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "pad"])
@pytest.mark.parametrize(("fw", "fh"), [(640, 480), (1280, 720), (480, 640), (500, 120)])
def test_detector_boxes_map_back_to_source_pixels(
    finder: ort.InferenceSession, mode: ResizeMode, fw: int, fh: int
) -> None:
    spec = InputSpec("images", 96, 128, resize=mode)
    model = ModelSpec(
        kind="detector",
        labels=("thing", "other"),
        input=spec,
        outputs={"boxes": "output0"},
        detector_format=DetectorFormat.YOLOV8,
    )
    pre = Preprocessor(spec)
    buf = pre.buffer()
    for fx1, fy1, fx2, fy2 in BOXES:
        truth = (round(fx1 * fw), round(fy1 * fh), round(fx2 * fw), round(fy2 * fh))
        image = np.zeros((fh, fw, 3), np.uint8)
        image[truth[1] : truth[3], truth[0] : truth[2]] = 255
        t = pre(image, buf)
        raw = finder.run(None, {"images": buf[None]})[0][0]
        (det,) = detect(raw, model, t, (fw, fh), DetectorParams())
        # The model sees edges to within a pixel of its input: one input pixel in source pixels, plus one.
        tol = (1 / t.scale_x + 1, 1 / t.scale_y + 1)
        for got, want, axis in zip(det.box, truth, (0, 1, 0, 1), strict=True):
            assert abs(got - want) <= tol[axis], f"{mode} {fw}x{fh}: {det.box} vs {truth}"

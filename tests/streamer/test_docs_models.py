"""The worked examples of docs/third-party-models.md, each run on a small model of its family's layout.

Every ```toml block that starts with ``# example: NAME`` is loaded as written (next to a model built
here with the family's input, output layout and final node) through the daemon's own loading, then
a real frame goes through preprocessing, the ONNX Runtime session and postprocessing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamer.config import parse_config
from streamer.detectors import DetectorParams
from streamer.modelset import ImageModel, load_models
from streamer.modelspec import Activation, DetectorFormat
from streamer.outputcheck import describe_scoring
from streamer.postprocess import classify, detect
from streamer.preprocess import Preprocessor
from streamer.records import Classification, Detection, Transform
from tests import tinymodels

DOC = Path(__file__).resolve().parents[2] / "docs" / "third-party-models.md"
EXAMPLES = dict(re.findall(r"```toml\n# example: ([\w-]+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S))
COCO = ["person", "bicycle", "car"] + [f"coco_{i}" for i in range(3, 80)]
IMAGENET = ["red", "green", "blue"] + [f"imagenet_{i}" for i in range(3, 1000)]


def _labels(path: Path, labels: list[str]) -> None:
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")


def build_imagenet(d: Path) -> None:
    tinymodels.classifier(
        d / "resnet50.onnx", tuple(IMAGENET), (224, 224), metadata=False, input_name="input", output_name="output",
        embedding=False,
    )  # fmt: skip
    _labels(d / "imagenet_classes.txt", IMAGENET)


def build_yolov8(d: Path) -> None:
    names = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(COCO)) + "}"
    meta = {"stride": "32", "task": "detect", "imgsz": "[640, 640]", "names": names, "author": "Ultralytics"}
    tinymodels.box_finder(d / "yolov8n.onnx", "yolov8", tuple(COCO), (640, 640), anchors=8400, metadata=meta)


def build_yolov5(d: Path) -> None:
    tinymodels.box_finder(d / "yolov5s.onnx", "yolov5", tuple(COCO), (640, 640), anchors=25200)
    _labels(d / "coco.txt", COCO)


def build_softmax(d: Path) -> None:
    tinymodels.classifier(
        d / "scenes.onnx", ("red", "green", "blue"), (160, 160), metadata=False, input_name="data", output_name="prob",
        ending=("Softmax", "Flatten"), embedding=False,
    )  # fmt: skip


def build_ocr(d: Path) -> None:
    tinymodels.classifier(
        d / "ch_ppocr_mobile_v2.0_cls.onnx", ("0", "180"), (48, 192), metadata=False, input_name="x",
        output_name="softmax_0.tmp_0", ending=("Softmax",), embedding=False,
    )  # fmt: skip


def build_multilabel(d: Path) -> None:
    tinymodels.classifier(
        d / "attributes.onnx", ("red", "green", "blue"), (64, 64), metadata=False, input_name="input",
        output_name="scores", ending=("Sigmoid",), embedding=False,
    )  # fmt: skip


BUILDERS: dict[str, Callable[[Path], None]] = {
    "imagenet": build_imagenet,
    "yolov8": build_yolov8,
    "yolov5": build_yolov5,
    "softmax": build_softmax,
    "ocr": build_ocr,
    "multilabel": build_multilabel,
}


def test_every_family_has_an_example() -> None:
    assert sorted(EXAMPLES) == sorted(BUILDERS)


def _load(name: str, d: Path) -> ImageModel:
    BUILDERS[name](d)
    data: dict[str, Any] = tomllib.loads(EXAMPLES[name])
    config = parse_config(data, d, "docs/third-party-models.md")
    (model,) = load_models(config).image
    return model


def _run(im: ImageModel, frame: np.ndarray) -> tuple[np.ndarray, Transform, dict[str, np.ndarray]]:
    spec = im.model.spec.input
    assert spec is not None
    pre = Preprocessor(spec)
    buf = pre.buffer()
    t = pre(frame, buf)
    return buf, t, im.model.run({spec.name: buf[None]})


def _classify(im: ImageModel, frame: np.ndarray) -> tuple[Classification, ...]:
    _, _, out = _run(im, frame)
    logits = out[im.model.spec.outputs["logits"]][0]
    return classify(logits, im.model.spec, im.cfg.top_k, im.cfg.confidence)


def _detect(im: ImageModel, frame: np.ndarray) -> tuple[Detection, ...]:
    _, t, out = _run(im, frame)
    raw = out[im.model.spec.outputs["boxes"]][0]
    params = DetectorParams(im.cfg.confidence, im.cfg.iou, im.cfg.max_detections)
    return detect(raw, im.model.spec, t, (frame.shape[1], frame.shape[0]), params)


def _bgr(h: int, w: int, b: int, g: int, r: int) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:] = (b, g, r)
    return frame


def test_imagenet_classifier(tmp_path: Path) -> None:
    im = _load("imagenet", tmp_path)
    assert (im.model.spec.activation, im.model.spec.activation_in_graph) == (Activation.SOFTMAX, False)
    top = _classify(im, _bgr(480, 640, 0, 0, 255))
    assert top[0].label == "red" and top[0].score > 0.99 and len(top) == 5


@pytest.mark.parametrize("name", ["yolov8", "yolov5"])
def test_yolo_detectors(tmp_path: Path, name: str) -> None:
    im = _load(name, tmp_path)
    assert im.model.spec.detector_format is DetectorFormat(name)
    assert im.model.spec.input is not None and im.model.spec.input.resize == "letterbox"
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[200:500, 300:700] = 255
    (det,) = _detect(im, frame)
    assert det.label == "person" and det.score == pytest.approx(0.9)
    np.testing.assert_allclose(det.box, (300, 200, 700, 500), atol=3)


def test_model_ending_in_softmax(tmp_path: Path) -> None:
    im = _load("softmax", tmp_path)
    assert describe_scoring(im.model.spec) == "activation softmax (already in the graph; top-k)"
    (top,) = _classify(im, _bgr(240, 320, 0, 255, 0))
    assert top.label == "green" and top.score > 0.99  # not capped at e/(e+1) = 0.731


def test_ocr_keep_ratio_classifier(tmp_path: Path) -> None:
    im = _load("ocr", tmp_path)
    frame = _bgr(30, 80, 255, 0, 0)  # a blue text line, 8:3, into 48x192 (4:1)
    buf, t, _ = _run(im, frame)
    assert (t.scale_x, t.pad_x, t.pad_y) == (1.6, 0.0, 0.0)
    np.testing.assert_allclose(buf[0, :, :128], 1.0, atol=1e-6)  # BGR order: blue first, (1 - 0.5) / 0.5
    np.testing.assert_allclose(buf[2, :, :128], -1.0, atol=1e-6)
    np.testing.assert_allclose(buf[:, :, 128:], 128 / 255 / 0.5 - 1, atol=1e-6)  # padding: about 0
    top = _classify(im, frame)
    assert top[0].label == "0" and top[0].score > 0.99


def test_multilabel_classifier(tmp_path: Path) -> None:
    im = _load("multilabel", tmp_path)
    assert im.model.spec.activation is Activation.SIGMOID and im.model.spec.activation_in_graph
    labels = [c.label for c in _classify(im, _bgr(100, 100, 0, 255, 255))]  # yellow: red and green
    assert labels == ["red", "green"]

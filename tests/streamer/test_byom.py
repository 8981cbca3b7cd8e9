"""Bring your own model: real ONNX graphs as their authors end them, loaded through the daemon's runtime.

Each accepted case is read the way its graph says (activation, detector format); each refused
case is one ModelError naming the model key to set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest

from streamer.config import parse_config
from streamer.detectors import DetectorParams
from streamer.errors import ModelError
from streamer.model_config import ModelConfig
from streamer.modelset import load_models
from streamer.modelspec import Activation, DetectorFormat, ModelSpec, ResizeMode
from streamer.postprocess import classify, detect
from streamer.preprocess import Preprocessor
from streamer.runtime import Model, load_model
from tests import tinymodels

THIRD_PARTY = {
    "kind": "classifier", "labels": ["red", "green", "blue"], "input_name": "image", "input_size": (32, 32),
    "outputs": {"logits": "logits"},
}  # fmt: skip


def load(path: Path, **cfg: Any) -> Model:
    return load_model("m", path, ModelConfig(path=str(path), **cfg), max_batch=2)


def _red_scores(model: Model, k: int = 3, confidence: float = 0.25) -> list[tuple[str, float]]:
    assert model.spec.input is not None
    pre = Preprocessor(model.spec.input)
    buf = pre.buffer()
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[..., 2] = 255  # BGR red
    pre(frame, buf)
    out = model.run({model.spec.input.name: buf[None]})
    logits = out[model.spec.outputs["logits"]][0]
    return [(c.label, round(c.score, 3)) for c in classify(logits, model.spec, k, confidence)]


@pytest.mark.parametrize(
    ("ending", "activation", "resolved", "in_graph", "expected"),
    [
        # Logits: softmax applied by the daemon.
        ((), None, Activation.SOFTMAX, False, [("red", 1.0), ("green", 0.0), ("blue", 0.0)]),
        # Ends in Softmax (then a Flatten, as many exports do): scores as the graph gives them, not
        # softmax of probabilities (which would publish at most e/(e+1) = 0.731).
        (("Softmax",), None, Activation.SOFTMAX, True, [("red", 1.0), ("green", 0.0), ("blue", 0.0)]),
        (("Softmax", "Flatten"), "auto", Activation.SOFTMAX, True, [("red", 1.0), ("green", 0.0), ("blue", 0.0)]),
        (("Softmax",), "softmax", Activation.SOFTMAX, True, [("red", 1.0), ("green", 0.0), ("blue", 0.0)]),
        (("Softmax",), "none", Activation.NONE, False, [("red", 1.0), ("green", 0.0), ("blue", 0.0)]),
        # Ends in Sigmoid: multi-label, every label at or above confidence (0.5 each for 0 logits).
        (("Sigmoid",), None, Activation.SIGMOID, True, [("red", 1.0), ("green", 0.5), ("blue", 0.5)]),
        # Logits named multi-label in config: the daemon's sigmoid.
        ((), "sigmoid", Activation.SIGMOID, False, [("red", 1.0), ("green", 0.5), ("blue", 0.5)]),
    ],
)
def test_activation_read_from_the_graph(
    tmp_path: Path,
    ending: tuple[str, ...],
    activation: str | None,
    resolved: Activation,
    in_graph: bool,
    expected: list[tuple[str, float]],
) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx", metadata=False, ending=ending, output_name="probs")
    m = load(p, **{**THIRD_PARTY, "outputs": {"logits": "probs"}}, activation=activation)
    assert (m.spec.activation, m.spec.activation_in_graph) == (resolved, in_graph)
    assert _red_scores(m) == expected


def test_softmax_ended_model_clears_a_high_threshold(tmp_path: Path) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx", metadata=False, ending=("Softmax",))
    m = load(p, **THIRD_PARTY)
    top = _red_scores(m, k=1)[0]
    assert top[0] == "red" and top[1] > 0.9


@pytest.mark.parametrize("fmt", ["yolov8", "yolov5", "nms"])
def test_detector_format_found_from_the_output_shape(tmp_path: Path, fmt: str) -> None:
    p = tinymodels.box_finder(tmp_path / "d.onnx", fmt, labels=("person", "car", "dog"), nms_node=fmt == "nms")
    m = load(
        p, kind="detector", labels=["person", "car", "dog"], input_name="images", input_size=(64, 64),
        resize="letterbox", outputs={"boxes": "output0"},
    )  # fmt: skip
    assert m.spec.detector_format == DetectorFormat(fmt)
    assert m.spec.input is not None
    pre = Preprocessor(m.spec.input)
    buf = pre.buffer()
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[30:90, 40:100] = 255
    t = pre(frame, buf)
    raw = m.run({"images": buf[None]})["output0"][0]
    (det,) = detect(raw, m.spec, t, (160, 120), DetectorParams())
    assert det.label == "person" and det.score == pytest.approx(0.9)
    np.testing.assert_allclose(det.box, (40, 30, 100, 90), atol=3.5)


def _refusal(tmp_path: Path, case: str) -> tuple[Path, dict[str, Any]]:  # noqa: PLR0911  (one return per case)
    det = {"kind": "detector", "input_name": "images", "input_size": (64, 64), "outputs": {"boxes": "output0"}}
    if case == "segmentation map as detector":
        p = tinymodels.probability_map(tmp_path / "seg.onnx", size=(96, 96))
        return p, {**det, "labels": ["text"], "input_name": "x", "input_size": (96, 96), "outputs": {"boxes": "maps"}}
    if case == "80 classes, 3 labels":
        p = tinymodels.box_finder(tmp_path / "d.onnx", "yolov8", labels=tuple(f"c{i}" for i in range(80)))
        return p, {**det, "labels": ["a", "b", "c"]}
    if case == "yolov5 named yolov8":
        p = tinymodels.box_finder(tmp_path / "d.onnx", "yolov5", labels=("a", "b", "c"))
        return p, {**det, "labels": ["a", "b", "c"], "format": "yolov8"}
    if case == "NMS graph, other layout":
        p = tinymodels.box_finder(tmp_path / "d.onnx", "yolov8", labels=("a", "b"), nms_node=True)
        return p, {**det, "labels": ["a", "b"]}
    if case == "one class: yolov5 or nms":
        p = tinymodels.box_finder(tmp_path / "d.onnx", "nms", labels=("a",))
        return p, {**det, "labels": ["a"]}
    if case == "none over logits":
        logits = tinymodels.classifier(tmp_path / "l.onnx", metadata=False, bias=-2.0)
        return logits, {**THIRD_PARTY, "activation": "none"}
    p = tinymodels.classifier(tmp_path / "c.onnx", metadata=False, ending=("Softmax",))
    if case == "sigmoid over Softmax":
        return p, {**THIRD_PARTY, "activation": "sigmoid"}
    if case == "classifier labels":
        return p, {**THIRD_PARTY, "labels": ["a", "b"]}
    return p, {**THIRD_PARTY, "kind": "embedding", "outputs": {"embedding": "embedding"}, "activation": "none"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("segmentation map as detector", "models.m.format: output 'maps' has shape [1, 1, 96, 96], which fits no"),
        ("80 classes, 3 labels", "models.m.format: output 'output0' has shape [1, 84, 16]"),
        ("yolov5 named yolov8", "models.m.labels: output 'output0' [1, 16, 8] as yolov8 holds 12 classes"),
        ("NMS graph, other layout", "models.m.format: the graph runs NonMaxSuppression"),
        ("one class: yolov5 or nms", 'models.m.format: output \'output0\' [1, 16, 6] fits "yolov5" or "nms"'),
        ("sigmoid over Softmax", "models.m.activation: output 'logits' already ends in Softmax"),
        ("classifier labels", "models.m.labels: output 'logits' has shape [1, 3]"),
        ("activation on an embedding", "models.m.activation: applies to classifiers, not a embedding"),
        ("none over logits", "models.m.activation: output 'logits' gave -2 on a warm-up run, not a probability"),
    ],
)
def test_refused_with_the_key_to_set(tmp_path: Path, case: str, message: str) -> None:
    path, cfg = _refusal(tmp_path, case)
    with pytest.raises(ModelError) as info:
        load(path, **cfg)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def _config(tmp_path: Path, models: dict[str, Any], publish: dict[str, Any] | None = None) -> Any:
    return parse_config({"models": models, "publish": publish or {}}, tmp_path, "c.toml")


def test_huge_embedding_refused_before_it_is_published(tmp_path: Path) -> None:
    p = tinymodels.probability_map(tmp_path / "seg.onnx", size=(368, 368))
    emb = {"path": str(p), "kind": "embedding", "input_name": "x", "input_size": [368, 368],
           "outputs": {"embedding": "maps"}}  # fmt: skip
    with pytest.raises(ModelError) as info:
        load_models(_config(tmp_path, {"seg": emb}))
    assert str(info.value).startswith("models.seg.outputs: output 'maps' has 135424 values, about 1625")
    assert "over publish.max_message_bytes = 1048576" in str(info.value)
    # Within a raised bound it loads.
    models = load_models(_config(tmp_path, {"seg": emb}, {"max_message_bytes": 2_000_000}))
    assert models.image[0].model.output_shapes["maps"] == (1, 1, 368, 368)


def test_classifier_embedding_counts_only_when_published(tmp_path: Path) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx")
    small = {"path": str(p), "publish_embedding": True}
    assert load_models(_config(tmp_path, {"c": small}, {"max_message_bytes": 1024}))
    det = tinymodels.box_finder(tmp_path / "d.onnx", "yolov8", labels=("a", "b"))
    many = {"path": str(det), "kind": "detector", "labels": ["a", "b"], "input_name": "images",
            "input_size": [64, 64], "outputs": {"boxes": "output0"}, "max_detections": 100}  # fmt: skip
    with pytest.raises(ModelError, match=r"models.d.max_detections: about 12\d\d\d bytes.*lower max_detections"):
        load_models(_config(tmp_path, {"c": small, "d": many}, {"max_message_bytes": 8192}))


def test_metadata_carries_activation_format_and_pad(tmp_path: Path) -> None:
    spec = ModelSpec.from_metadata(
        {"kind": "detector", "labels": '["a"]', "format": "nms", "activation": "auto", "input_name": "i",
         "input_size": "[8, 8]", "resize": "pad", "pad_value": "128", "outputs": '{"boxes": "o"}'}
    )  # fmt: skip
    assert spec.detector_format is DetectorFormat.NMS and spec.input is not None
    assert (spec.input.resize, spec.input.fill) == ("pad", 128)
    assert ModelSpec.from_metadata(spec.to_metadata()) == spec
    with pytest.raises(ModelError, match=r"model.format: must be one of auto, yolov8, yolov5, nms, not 'ssd'"):
        ModelSpec.from_metadata({"kind": "detector", "format": "ssd"})
    with pytest.raises(ModelError, match=r"model.pad_value: must be a grey level from 0 to 255"):
        ModelSpec.from_metadata({"kind": "detector", "input_name": "i", "input_size": "[8, 8]", "pad_value": "300"})


ULTRALYTICS = {
    "description": "Ultralytics YOLOv8n model", "author": "Ultralytics", "stride": "32", "task": "detect",
    "batch": "1", "imgsz": "[64, 64]", "names": "{0: 'person', 1: 'bicycle', 2: 'car'}",
}  # fmt: skip


def test_ultralytics_export_needs_only_its_path(tmp_path: Path) -> None:
    p = tinymodels.box_finder(tmp_path / "yolov8n.onnx", "yolov8", ("a", "b", "c"), metadata=ULTRALYTICS)
    m = load(p)
    assert m.spec.kind == "detector" and m.spec.labels == ("person", "bicycle", "car")
    assert m.spec.input is not None and (m.spec.input.name, m.spec.input.resize) == ("images", "letterbox")
    assert m.spec.outputs == {"boxes": "output0"} and m.spec.detector_format is DetectorFormat.YOLOV8
    # YOLOv5's exporter writes names and stride only.
    v5 = tinymodels.box_finder(
        tmp_path / "yolov5s.onnx", "yolov5", ("a", "b"), metadata={"stride": "32", "names": "{0: 'x', 1: 'y'}"}
    )
    assert load(v5).spec.detector_format is DetectorFormat.YOLOV5
    # A task this daemon does not decode gives nothing: the model must be described in config.
    seg = tinymodels.box_finder(tmp_path / "seg.onnx", "yolov8", ("a",), metadata={**ULTRALYTICS, "task": "segment"})
    with pytest.raises(ModelError, match=r"models.m.kind: model kind unknown"):
        load(seg)
    # Names that are not a literal are not evaluated.
    evil = tinymodels.box_finder(
        tmp_path / "e.onnx", "yolov8", ("a",), metadata={"stride": "32", "names": "__import__('os')"}
    )
    with pytest.raises(ModelError, match=r"models.m.kind: model kind unknown"):
        load(evil)


def test_graph_fixes_the_only_input_and_output(tmp_path: Path) -> None:
    p = tinymodels.classifier(
        tmp_path / "c.onnx", metadata=False, input_name="data", output_name="prob", embedding=False
    )
    m = load(p, kind="classifier", labels=["r", "g", "b"])
    assert m.spec.input is not None and (m.spec.input.name, m.spec.input.height, m.spec.input.width) == ("data", 32, 32)
    assert m.spec.outputs == {"logits": "prob"}
    # With two outputs the role is not guessed.
    two = tinymodels.classifier(tmp_path / "c2.onnx", metadata=False, input_name="data", output_name="prob")
    with pytest.raises(ModelError, match=r"models.m.outputs: classifier model needs an output for role 'logits'"):
        load(two, kind="classifier", labels=["r", "g", "b"])


def test_config_vocabularies_equal_the_spec_enums() -> None:
    fields = ModelConfig.model_fields
    assert set(get_args(fields["activation"].annotation)[0].__args__) == {a.value for a in Activation}
    assert set(get_args(fields["format"].annotation)[0].__args__) == {f.value for f in DetectorFormat}
    assert set(get_args(fields["resize"].annotation)[0].__args__) == set(get_args(ResizeMode))

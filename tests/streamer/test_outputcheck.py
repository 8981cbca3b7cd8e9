"""Activation and format resolution and the message-size bound, as pure functions."""

from __future__ import annotations

import pytest

from streamer.errors import ModelError
from streamer.graph import GraphFacts
from streamer.model_config import ModelConfig
from streamer.modelspec import Activation, DetectorFormat, ModelSpec
from streamer.outputcheck import (
    MESSAGE_BASE_BYTES,
    check_message_size,
    describe_scoring,
    message_share,
    resolve,
    resolve_activation,
)

A = Activation


@pytest.mark.parametrize(
    ("configured", "final", "expected"),
    [
        (A.AUTO, "Softmax", (A.SOFTMAX, True)),
        (A.AUTO, "Sigmoid", (A.SIGMOID, True)),
        (A.AUTO, "Gemm", (A.SOFTMAX, False)),
        (A.AUTO, "LogSoftmax", (A.SOFTMAX, False)),  # softmax of log-probabilities is the probabilities
        (A.AUTO, "", (A.SOFTMAX, False)),
        (A.SOFTMAX, "Softmax", (A.SOFTMAX, True)),
        (A.SOFTMAX, "MatMul", (A.SOFTMAX, False)),
        (A.SIGMOID, "Sigmoid", (A.SIGMOID, True)),
        (A.SIGMOID, "Gemm", (A.SIGMOID, False)),
        (A.NONE, "Softmax", (A.NONE, False)),
        (A.NONE, "Gemm", (A.NONE, False)),
    ],
)
def test_resolve_activation(configured: Activation, final: str, expected: tuple[Activation, bool]) -> None:
    assert resolve_activation(configured, final, "models.m", "y") == expected


@pytest.mark.parametrize(("configured", "final"), [(A.SIGMOID, "Softmax"), (A.SOFTMAX, "Sigmoid")])
def test_contradicting_activation_refused(configured: Activation, final: str) -> None:
    with pytest.raises(ModelError, match=rf"models.m.activation: output 'y' already ends in {final}"):
        resolve_activation(configured, final, "models.m", "y")


CLS = ModelSpec(kind="classifier", labels=("a", "b"), outputs={"logits": "y", "embedding": "e"})
DET = ModelSpec(kind="detector", labels=("a", "b"), outputs={"boxes": "o"})


def test_resolve_sets_activation_and_format() -> None:
    cls = resolve(CLS, {"y": (1, 2)}, GraphFacts({"y": "Softmax"}), "models.m")
    assert (cls.activation, cls.activation_in_graph) == (A.SOFTMAX, True)
    assert describe_scoring(cls) == "activation softmax (already in the graph; top-k)"
    det = resolve(DET, {"o": (1, 100, 7)}, GraphFacts(), "models.m")
    assert det.detector_format is DetectorFormat.YOLOV5 and describe_scoring(det) == "format yolov5"
    with pytest.raises(ModelError, match=r"models.m.format: applies to detectors, not a classifier; remove it"):
        resolve(ModelSpec(kind="classifier", detector_format=DetectorFormat.NMS), {}, GraphFacts(), "models.m")


def test_message_share_and_bound() -> None:
    emb = ModelSpec(kind="embedding", outputs={"embedding": "e"})
    share = message_share(emb, {"e": (1, 8, 8)}, ModelConfig(path="x"))
    assert (share.bytes, share.key, share.values) == (64 * 12, "outputs", 64)
    # A classifier's embedding counts only when published; its labels always.
    assert message_share(CLS, {"e": (1, 512)}, ModelConfig(path="x")).bytes == 2 * 40
    published = message_share(CLS, {"e": (1, 512)}, ModelConfig(path="x", publish_embedding=True))
    assert (published.bytes, published.key) == (512 * 12 + 2 * 40, "publish_embedding")
    check_message_size({"m": share}, MESSAGE_BASE_BYTES + 64 * 12)
    with pytest.raises(ModelError, match=r"^models.m.outputs: output 'e' has 64 values, about 1280 bytes"):
        check_message_size({"m": share}, MESSAGE_BASE_BYTES + 64 * 12 - 1)

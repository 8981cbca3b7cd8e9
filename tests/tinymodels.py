"""Tiny ONNX models built with ``onnx.helper`` for tests: real graphs, real ONNX Runtime sessions.

- classifier: image ``[N,3,H,W]`` -> ``logits[N,K]`` (mean colour per channel, times a fixed matrix)
  and ``embedding[N,3]``; the class is predictable from the frame's dominant colour.
- sequence: one step ``(features[N,E], h_in[1,N,H]) -> (logits[N,K], h_out[1,N,H])`` with
  ``h_out = tanh(features @ W + h_in @ U)``; the state visibly accumulates.
- detector: YOLOv8-style ``[N, 4+C, A]`` output that returns fixed anchors, for decode tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streamer.modelspec import InputSpec, ModelSpec, StateSpec

OPSET = 17


def _save(graph: onnx.GraphProto, spec: ModelSpec | None, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    if spec is not None:
        for k, v in spec.to_metadata().items():
            entry = model.metadata_props.add()
            entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def classifier(
    path: Path,
    labels: Sequence[str] = ("red", "green", "blue"),
    size: tuple[int, int] = (32, 32),
    *,
    metadata: bool = True,
    input_name: str = "image",
) -> Path:
    """Classify by mean channel value: RGB input, logits = 10 * mean(channel) per class."""
    k = len(labels)
    weight = np.zeros((3, k), dtype=np.float32)
    for i in range(min(3, k)):
        weight[i, i] = 10.0
    h, w = size
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
        helper.make_node("Identity", ["pooled"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, h, w])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 3]),
        ],
        initializer=[numpy_helper.from_array(weight, "W")],
    )
    spec = ModelSpec(
        kind="classifier",
        labels=tuple(labels),
        input=InputSpec(name=input_name, height=h, width=w, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        outputs={"logits": "logits", "embedding": "embedding"},
        producer="tests",
    )
    return _save(graph, spec if metadata else None, path)


def sequence(path: Path, labels: Sequence[str] = ("still", "moving"), features: int = 3, hidden: int = 4) -> Path:
    """A one-step recurrent cell with explicit state ``[1, N, H]``."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (features, hidden)).astype(np.float32)
    u = (np.eye(hidden) * 0.9).astype(np.float32)
    v = rng.normal(0, 1.0, (hidden, len(labels))).astype(np.float32)
    nodes = [
        helper.make_node("Squeeze", ["h_in", "axis0"], ["h"]),
        helper.make_node("MatMul", ["features", "W"], ["a"]),
        helper.make_node("MatMul", ["h", "U"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["c"]),
        helper.make_node("Tanh", ["c"], ["h_new"]),
        helper.make_node("Unsqueeze", ["h_new", "axis0"], ["h_out"]),
        helper.make_node("MatMul", ["h_new", "V"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "sequence",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", features]),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, "N", hidden]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(labels)]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, "N", hidden]),
        ],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(u, "U"),
            numpy_helper.from_array(v, "V"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        ],
    )
    spec = ModelSpec(
        kind="sequence",
        labels=tuple(labels),
        outputs={"logits": "logits"},
        features_input="features",
        feature_size=features,
        state=StateSpec(input="h_in", output="h_out", layers=1, size=hidden),
        producer="tests",
    )
    return _save(graph, spec, path)


def detector(path: Path, anchors: np.ndarray, labels: Sequence[str] = ("person", "car"), size: int = 64) -> Path:
    """A detector that ignores its image and returns ``anchors`` (``[4 + C, A]``) for every frame."""
    const = anchors.astype(np.float32)[None]  # [1, 4 + C, A]
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "ones"], ["reps"], axis=0),
        helper.make_node("Tile", ["A", "reps"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", const.shape[1], const.shape[2]])],
        initializer=[
            numpy_helper.from_array(const, "A"),
            numpy_helper.from_array(np.array([1, 1], dtype=np.int64), "ones"),
        ],
    )
    spec = ModelSpec(
        kind="detector",
        labels=tuple(labels),
        input=InputSpec(name="images", height=size, width=size, resize="letterbox"),
        outputs={"boxes": "output0"},
        producer="tests",
    )
    return _save(graph, spec, path)

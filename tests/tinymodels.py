"""Tiny ONNX models built with ``onnx.helper`` for tests: real graphs, real ONNX Runtime sessions.

- classifier: image ``[N,3,H,W]`` -> ``logits[N,K]`` (mean colour per channel, times a fixed matrix)
  and ``embedding[N,3]``; the class is predictable from the frame's dominant colour.
- sequence: one step ``(features[N,E], h_in[1,N,H]) -> (logits[N,K], h_out[1,N,H])`` with
  ``h_out = tanh(features @ W + h_in @ U)``; the state visibly accumulates.
- detector: YOLOv8-style ``[N, 4+C, A]`` output that returns fixed anchors, for decode tests.
- box_finder: a detector that really finds the one bright rectangle in its input, in the output
  layout of ``yolov8``, ``yolov5`` or ``nms`` (optionally with a NonMaxSuppression node).
- probability_map: a segmentation-style ``[N, 1, H, W]`` map (not a detector, not an embedding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streamer.modelspec import InputSpec, ModelSpec, StateSpec

OPSET = 17


def _save(graph: onnx.GraphProto, spec: ModelSpec | None, path: Path, props: Mapping[str, str] | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    if spec is not None or props:
        meta = spec.to_metadata() if spec is not None else dict(props or {})
        for k, v in meta.items():
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
    ending: Sequence[str] = (),
    output_name: str = "logits",
    embedding: bool = True,
    gain: float = 10.0,
    bias: float = 0.0,
) -> Path:
    """Classify by mean channel value: RGB input, logits = ``gain`` * mean(channel) + ``bias`` per class.

    ``ending`` appends nodes after the logits, e.g. ``("Softmax",)`` or ``("Sigmoid", "Flatten")``,
    as the authors of a published model may have; ``output_name`` names the final output, and
    ``embedding = False`` leaves it the only one.
    """
    k = len(labels)
    weight = np.zeros((3, k), dtype=np.float32)
    for i in range(min(3, k)):
        weight[i, i] = gain
    h, w = size
    names = ["z"] + [f"z{i}" for i in range(1, len(ending))] + [output_name]
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], [names[0] if ending else output_name]),
    ]
    if embedding:
        nodes.append(helper.make_node("Identity", ["pooled"], ["embedding"]))
    nodes += [helper.make_node(op, [names[i]], [names[i + 1]]) for i, op in enumerate(ending)]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, h, w])],
        [
            helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", k]),
            *([helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 3])] if embedding else []),
        ],
        initializer=[
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(np.array(bias, dtype=np.float32), "B"),
        ],
    )
    spec = ModelSpec(
        kind="classifier",
        labels=tuple(labels),
        input=InputSpec(name=input_name, height=h, width=w, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        outputs={"logits": output_name, **({"embedding": "embedding"} if embedding else {})},
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


def box_finder(
    path: Path,
    fmt: str = "yolov8",
    labels: Sequence[str] = ("person", "car"),
    size: tuple[int, int] = (64, 64),
    *,
    anchors: int = 16,
    nms_node: bool = False,
    input_name: str = "images",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """A detector (no metadata) that boxes the bright rectangle of its input, class 0, score 0.9.

    Input ``[N, 3, H, W]`` in 0..1 (mean 0, std 1); the columns and rows holding any channel above
    0.5 give ``x1, x2, y1, y2`` in input pixels. The box is written as one anchor of ``anchors``
    (the rest zero) in the ``fmt`` layout: ``yolov8`` ``[N, 4 + C, A]``, ``yolov5`` ``[N, A, 5 + C]``
    or ``nms`` ``[N, A, 6]``. ``nms_node`` adds a NonMaxSuppression node, as NMS-exported models have;
    ``metadata`` is written as the model's ``metadata_props`` (e.g. what an Ultralytics export records).
    """
    h, w = size
    c = len(labels)
    one_hot = np.zeros((1, c), dtype=np.float32)
    one_hot[0, 0] = 1.0
    f = TensorProto.FLOAT

    def edges(axes: list[int], lo: str, hi: str) -> list[onnx.NodeProto]:
        return [
            helper.make_node("ReduceMax", [input_name], [f"{lo}_prof"], axes=axes, keepdims=0),
            helper.make_node("Greater", [f"{lo}_prof", "half"], [f"{lo}_on"]),
            helper.make_node("Cast", [f"{lo}_on"], [f"{lo}_mask"], to=f),
            helper.make_node("ArgMax", [f"{lo}_mask"], [f"{lo}_i"], axis=1, keepdims=1, select_last_index=0),
            helper.make_node("ArgMax", [f"{lo}_mask"], [f"{hi}_i"], axis=1, keepdims=1, select_last_index=1),
            helper.make_node("Cast", [f"{lo}_i"], [lo], to=f),
            helper.make_node("Cast", [f"{hi}_i"], [f"{hi}_last"], to=f),
            helper.make_node("Add", [f"{hi}_last", "one"], [hi]),
        ]

    nodes = [*edges([1, 2], "x1", "x2"), *edges([1, 3], "y1", "y2")]
    nodes += [
        helper.make_node("Sub", ["x2", "x1"], ["bw"]),
        helper.make_node("Sub", ["y2", "y1"], ["bh"]),
        helper.make_node("Add", ["x1", "x2"], ["sx"]),
        helper.make_node("Add", ["y1", "y2"], ["sy"]),
        helper.make_node("Mul", ["sx", "half"], ["cx"]),
        helper.make_node("Mul", ["sy", "half"], ["cy"]),
        helper.make_node("Mul", ["x1", "zero"], ["zeros"]),  # [N, 1]
        helper.make_node("Add", ["zeros", "one"], ["ones"]),
        helper.make_node("Mul", ["ones", "score"], ["conf"]),
        helper.make_node("Mul", ["ones", "onehot"], ["cls"]),  # [N, C]
        helper.make_node("Mul", ["cls", "score"], ["cls_scores"]),
    ]
    if fmt == "yolov8":
        nodes.append(helper.make_node("Concat", ["cx", "cy", "bw", "bh", "cls_scores"], ["row"], axis=1))
        nodes.append(helper.make_node("Unsqueeze", ["row", "axis2"], ["one_anchor"]))
        pads = [0, 0, 0, 0, 0, anchors - 1]
        shape: list[str | int] = ["N", 4 + c, anchors]
    elif fmt == "yolov5":
        nodes.append(helper.make_node("Concat", ["cx", "cy", "bw", "bh", "conf", "cls"], ["row"], axis=1))
        nodes.append(helper.make_node("Unsqueeze", ["row", "axis1"], ["one_anchor"]))
        pads, shape = [0, 0, 0, 0, anchors - 1, 0], ["N", anchors, 5 + c]
    else:
        nodes.append(helper.make_node("Concat", ["x1", "y1", "x2", "y2", "conf", "zeros"], ["row"], axis=1))
        nodes.append(helper.make_node("Unsqueeze", ["row", "axis1"], ["one_anchor"]))
        pads, shape = [0, 0, 0, 0, anchors - 1, 0], ["N", anchors, 6]
    nodes.append(helper.make_node("Pad", ["one_anchor", "pads"], ["output0"]))
    outputs = [helper.make_tensor_value_info("output0", f, shape)]
    if nms_node:
        nodes += [
            helper.make_node("Concat", ["y1", "x1", "y2", "x2"], ["yxyx"], axis=1),
            helper.make_node("Unsqueeze", ["yxyx", "axis1"], ["nms_boxes"]),  # [N, 1, 4]
            helper.make_node("Unsqueeze", ["conf", "axis1"], ["nms_scores"]),  # [N, 1, 1]
            helper.make_node("NonMaxSuppression", ["nms_boxes", "nms_scores"], ["selected"]),
        ]
        outputs.append(helper.make_tensor_value_info("selected", TensorProto.INT64, ["K", 3]))
    graph = helper.make_graph(
        nodes,
        "box_finder",
        [helper.make_tensor_value_info(input_name, f, ["N", 3, h, w])],
        outputs,
        initializer=[
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
            numpy_helper.from_array(np.array(1.0, np.float32), "one"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array(0.9, np.float32), "score"),
            numpy_helper.from_array(one_hot, "onehot"),
            numpy_helper.from_array(np.array([1], np.int64), "axis1"),
            numpy_helper.from_array(np.array([2], np.int64), "axis2"),
            numpy_helper.from_array(np.array(pads, np.int64), "pads"),
        ],
    )
    return _save(graph, None, path, metadata)


def probability_map(path: Path, size: tuple[int, int] = (96, 96), input_name: str = "x") -> Path:
    """A segmentation-style model (no metadata): ``[N, 3, H, W]`` -> a sigmoid map ``[N, 1, H, W]``."""
    h, w = size
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["m"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["m"], ["maps"]),
    ]
    graph = helper.make_graph(
        nodes,
        "probability_map",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", 1, h, w])],
    )
    return _save(graph, None, path)

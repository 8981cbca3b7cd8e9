"""A tiny real detector for tests of tracking: finds red squares, built with ``onnx.helper``.

Graph: a 1x1 convolution turns RGB into a "redness" mask ``m`` in [0, 1]; average pools of ``m``,
``m * x`` and ``m * y`` over windows of ``WINDOW`` pixels (stride ``STRIDE``) give per window the
red area and its centroid. A window scores 1 when it holds the whole object (area ``SIDE``^2) and
0 below 90 % of it, so the windows around one object give one box (the rest are suppressed by NMS).
The output is YOLOv8-style ``[N, 5, A]``: centre x, centre y, width, height, score of "blob".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from streamer.modelspec import InputSpec, ModelSpec
from tests.tinymodels import _save

WINDOW = 20
STRIDE = 8
SIDE = 10  # the object's side in input pixels


def blob_detector(path: Path, size: tuple[int, int] = (60, 80)) -> Path:
    """Red squares of ``SIDE`` input pixels (40 source pixels in a 320x240 frame at the default size)."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    area = float(SIDE * SIDE)
    nodes = [
        helper.make_node("Conv", ["images", "Wm", "Bm"], ["red"]),  # 4 R - 4 G - 1
        helper.make_node("Clip", ["red", "zero", "one"], ["m"]),
        helper.make_node("Mul", ["m", "X"], ["mx"]),
        helper.make_node("Mul", ["m", "Y"], ["my"]),
        *(
            helper.make_node("AveragePool", [a], [f"{a}_p"], kernel_shape=[WINDOW, WINDOW], strides=[STRIDE, STRIDE])
            for a in ("m", "mx", "my")
        ),
        helper.make_node("Add", ["m_p", "eps"], ["den"]),
        helper.make_node("Div", ["mx_p", "den"], ["cx"]),
        helper.make_node("Div", ["my_p", "den"], ["cy"]),
        # Share of the object inside the window: 0 below 90 %, 1 for all of it.
        helper.make_node("Mul", ["m_p", "cover"], ["share"]),
        helper.make_node("Sub", ["share", "ninety"], ["over"]),
        helper.make_node("Mul", ["over", "ten"], ["steep"]),
        helper.make_node("Clip", ["steep", "zero", "one"], ["score"]),
        helper.make_node("Mul", ["cx", "zero"], ["nil"]),
        helper.make_node("Add", ["nil", "side"], ["wh"]),
        helper.make_node("Concat", ["cx", "cy", "wh", "wh", "score"], ["grid"], axis=1),
        helper.make_node("Reshape", ["grid", "flat"], ["output0"]),
    ]
    consts = {
        "Wm": np.array([4.0, -4.0, 0.0], np.float32).reshape(1, 3, 1, 1),
        "Bm": np.array([-1.0], np.float32),
        "X": xs[None, None],
        "Y": ys[None, None],
        "zero": np.array(0.0, np.float32),
        "one": np.array(1.0, np.float32),
        "eps": np.array(1e-6, np.float32),
        "cover": np.array(WINDOW * WINDOW / area, np.float32),
        "ninety": np.array(0.9, np.float32),
        "ten": np.array(10.0, np.float32),
        "side": np.array(float(SIDE), np.float32),
        "flat": np.array([0, 5, -1], np.int64),
    }
    graph = helper.make_graph(
        nodes,
        "blob_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", 5, "A"])],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    spec = ModelSpec(
        kind="detector",
        labels=("blob",),
        input=InputSpec(name="images", height=h, width=w),
        outputs={"boxes": "output0"},
        producer="tests",
    )
    return _save(graph, spec, path)

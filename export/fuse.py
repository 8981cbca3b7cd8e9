"""Fuse normalisation into an image model: a uint8 input and a Cast/Mul/Add prologue in the graph.

For GPU deployment the daemon then uploads uint8 frames (a quarter of the bytes of float32) and
the device normalises them. The wrapped model computes ``(pixel / 255 - mean) / std`` exactly as
the daemon's CPU preprocessing does (as ``pixel * scale + shift``), and its metadata says
``input_dtype = "uint8"``, so the daemon feeds it raw pixels in the same layout and colour order.

    python -m export.fuse models/frame_cnn.onnx models/frame_cnn.uint8.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.errors import ExportError
from streamer.modelspec import ModelSpec

FLOAT_INPUT = "{}_normalised"


def fuse_uint8_input(src: Path, dst: Path) -> ModelSpec:
    """Write ``src`` with a uint8 image input and normalisation inside the graph to ``dst``; return its spec."""
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    spec = ModelSpec.from_metadata(props, str(src))
    inp = spec.input
    if inp is None:
        raise ExportError(f"{src}: not an image model (no input spec in its metadata)")
    if inp.dtype == "uint8":
        raise ExportError(f"{src}: the input is uint8 already")
    graph = model.graph
    original = next((i for i in graph.input if i.name == inp.name), None)
    if original is None:
        raise ExportError(f"{src}: no graph input named {inp.name!r}")
    std = np.asarray(inp.std, np.float32)
    mean = np.asarray(inp.mean, np.float32)
    shape = (1, 3, 1, 1) if inp.layout == "NCHW" else (1, 1, 1, 3)
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(shape)
    shift = (-mean / std).astype(np.float32).reshape(shape)
    inner = FLOAT_INPUT.format(inp.name)
    # The float tensor keeps flowing into the original nodes under a new name.
    for node in graph.node:
        node.input[:] = [inner if name == inp.name else name for name in node.input]
    dims = [d.dim_param or d.dim_value for d in original.type.tensor_type.shape.dim]
    graph.input.remove(original)
    graph.input.insert(0, helper.make_tensor_value_info(inp.name, TensorProto.UINT8, dims))
    graph.initializer.extend(
        [numpy_helper.from_array(scale, f"{inner}_scale"), numpy_helper.from_array(shift, f"{inner}_shift")]
    )
    prologue = [
        helper.make_node("Cast", [inp.name], [f"{inner}_f32"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [f"{inner}_f32", f"{inner}_scale"], [f"{inner}_scaled"]),
        helper.make_node("Add", [f"{inner}_scaled", f"{inner}_shift"], [inner]),
    ]
    for i, node in enumerate(prologue):
        graph.node.insert(i, node)
    fused = ModelSpec.from_metadata({**props, "input_dtype": "uint8"}, str(src))
    del model.metadata_props[:]
    for key, value in {**props, **fused.to_metadata()}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return fused


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.fuse", description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args(argv)
    spec = fuse_uint8_input(args.src, args.dst)
    print(f"{args.dst}: uint8 input {spec.input.name if spec.input else '?'} with normalisation in the graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``streamer check --model PATH``: what the daemon sees in a model file, and the config it still needs.

Pure: takes what ONNX Runtime and the graph tell (:class:`~streamer.modelcheck.SessionInfo`,
:class:`~streamer.graph.GraphFacts`) and returns printable lines, ending in a ``[models.NAME]``
table with the keys the metadata does not give: guessed where the graph shows them, marked
``...`` where only the model's authors know them (labels, their preprocessing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamer.errors import ModelError
from streamer.graph import GraphFacts
from streamer.modelcheck import SessionInfo, TensorInfo, graph_defaults
from streamer.modelmeta import metadata_fields, spec_from_fields
from streamer.outputcheck import describe_scoring, resolve

ROLES = {"classifier": "logits", "detector": "boxes", "embedding": "embedding"}


def _dims(shape: tuple[int | str | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _shape(info: TensorInfo, run: Mapping[str, tuple[int, ...]]) -> tuple[int | str | None, ...]:
    return run.get(info.name, info.shape)


def guess_kind(shape: tuple[int | str | None, ...]) -> tuple[str, int | None, str]:
    """(kind, classes, why) for an output of ``shape`` at batch 1; classes None when the shape does not tell."""
    if len(shape) == 2 and isinstance(shape[1], int):
        return "classifier", shape[1], f"one score per class, {shape[1]} classes (or an embedding)"
    if len(shape) == 3 and isinstance(shape[1], int) and isinstance(shape[2], int):
        rows, cols = shape[1], shape[2]
        if cols == 6:
            return "detector", None, "[N, K, 6]: boxes after NMS (format nms)"
        if 4 < rows < cols:
            return "detector", rows - 4, f"yolov8 layout [N, 4 + C, A], {rows - 4} classes"
        if 5 < cols < rows:
            return "detector", cols - 5, f"yolov5 layout [N, A, 5 + C], {cols - 5} classes"
    return "embedding", None, "no classifier or detector layout; published as numbers, if small enough"


def _image_input(inputs: Mapping[str, TensorInfo]) -> dict[str, Any]:
    """input_name, input_size, layout and input_dtype of the one rank-4 input with 3 channels, if any."""
    for info in inputs.values():
        s = info.shape
        if len(s) != 4:
            continue
        fields: dict[str, Any] = {"input_name": info.name}
        layout, hw = ("NCHW", s[2:4]) if s[1] == 3 else ("NHWC", s[1:3]) if s[3] == 3 else ("", ())
        if not layout:
            continue
        if layout == "NHWC":
            fields["layout"] = layout
        if all(isinstance(d, int) for d in hw):
            fields["input_size"] = list(hw)
        if info.type == "tensor(uint8)":
            fields["input_dtype"] = "uint8"
        return fields
    return {}


def _needed(info: SessionInfo, facts: GraphFacts, meta: dict[str, Any]) -> list[str]:
    """``key = value  # why`` lines for every key the metadata does not give."""
    lines: list[str] = []
    kind = meta.get("kind")
    out_name = next(iter(info.outputs)) if info.outputs else "OUTPUT"
    if isinstance(meta.get("outputs"), dict) and kind in ROLES and ROLES[kind] in meta["outputs"]:
        out_name = meta["outputs"][ROLES[kind]]
    shape = _shape(info.outputs[out_name], info.run_shapes) if out_name in info.outputs else ()
    guessed, classes, why = guess_kind(shape)
    if kind is None:
        kind = guessed
        lines.append(f'kind = "{kind}"  # guessed from {out_name!r} {_dims(shape)}: {why}')
    if "input_name" not in meta:
        image = _image_input(info.inputs)
        for key, value in image.items():
            lines.append(f"{key} = {json.dumps(value)}  # from the graph")
        if "input_size" not in image:
            lines.append("input_size = [HEIGHT, WIDTH]  # the graph leaves it open: the size the authors use")
        if not image:
            lines.append('input_name = "..."  # no [N, 3, H, W] or [N, H, W, 3] input found')
    if kind in ROLES and "outputs" not in meta:
        extra = f"  # of {sorted(info.outputs)}" if len(info.outputs) > 1 else ""
        lines.append(f'outputs = {{ {ROLES[kind]} = "{out_name}" }}{extra}')
    if kind in ("classifier", "detector") and "labels" not in meta:
        count = f"{classes} classes" if classes else "all classes"
        lines.append(f'labels_file = "labels.txt"  # one name per line, index order ({count}); or labels = [...]')
    if "input_name" not in meta and kind in ROLES:
        if kind == "detector" and classes is not None:
            lines.append('resize = "letterbox"  # as YOLO models are trained; or "stretch" / "pad"')
        else:
            lines.append('resize = "stretch"  # or "letterbox" / "pad": as the authors resize (pad_value for pad)')
        lines.append("mean = [0.0, 0.0, 0.0]  # x = (pixel / 255 - mean) / std: the authors' normalisation")
        lines.append("std = [1.0, 1.0, 1.0]")
        lines.append('color_order = "RGB"  # or "BGR"')
    if kind == "classifier":
        final = facts.final_op(out_name) or "unknown"
        lines.append(f'activation = "auto"  # {out_name!r} ends in {final}: {_auto_activation(final)}')
    return lines


def _auto_activation(final: str) -> str:
    if final == "Softmax":
        return "its probabilities used as they are, top-k"
    if final == "Sigmoid":
        return "multi-label, every label above confidence"
    return "softmax applied by the daemon, top-k"


def describe(path: Path, info: SessionInfo, facts: GraphFacts) -> list[str]:
    """The printable report of ``streamer check --model``."""
    lines = [f"model: {path}", "inputs:"]
    lines += [f"  {i.name}: {i.type} {_dims(i.shape)}" for i in info.inputs.values()]
    lines.append("outputs:")
    for o in info.outputs.values():
        run = f" (batch 1: {_dims(info.run_shapes[o.name])})" if o.name in info.run_shapes else ""
        lines.append(f"  {o.name}: {o.type} {_dims(o.shape)}{run}, final node {facts.final_op(o.name) or '?'}")
    if facts.nms:
        lines.append("graph: runs NonMaxSuppression (a detector's output must then be [N, K, 6], format nms)")
    try:
        meta = metadata_fields(info.metadata, "metadata")
    except ModelError as exc:
        lines.append(f"metadata: unreadable ({exc}); give every key in config")
        meta = {}
    known = {k: v for k, v in meta.items() if k in _SPEC_KEYS}
    other = sorted(set(meta) - set(known))
    lines.append("metadata as spec fields: " + (", ".join(f"{k}={_short(v)}" for k, v in known.items()) or "none"))
    if other:
        lines.append(f"metadata keys besides: {', '.join(other)}")
    if "kind" in known:
        try:
            spec = spec_from_fields(graph_defaults(known, info.inputs, info.outputs), "metadata").validated("metadata")
            if info.run_shapes:
                spec = resolve(spec, info.run_shapes, facts, "metadata")
            scoring = describe_scoring(spec)
            scoring = f", {scoring}" if scoring else ""
            lines.append(f"spec from metadata: complete ({spec.kind}{scoring}); config needs only path")
            return lines
        except ModelError as exc:
            lines.append(f"spec from metadata: incomplete ({exc})")
    needed = _needed(info, facts, known)
    lines.append("config it still needs:")
    lines.append(f"  [models.{_table_name(path)}]")
    lines.append(f"  path = {json.dumps(str(path))}")
    lines += [f"  {line}" for line in needed]
    return lines


_SPEC_KEYS = frozenset(
    {
        "kind", "labels", "input_name", "input_size", "layout", "color_order", "mean", "std", "resize", "pad_value",
        "input_dtype", "outputs", "activation", "format", "features_input", "feature_size", "state", "producer",
    }
)  # fmt: skip


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    if isinstance(value, list) and len(value) > 4:
        text = f"[{len(value)} items]"
    return text if len(text) <= 60 else text[:57] + "..."


def _table_name(path: Path) -> str:
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in path.stem)
    return name or "model"

"""What an Ultralytics export (YOLOv5, YOLOv8 and later) records in its ONNX metadata, as spec fields.

Its exporter writes ``names`` (a Python dict literal, class index -> name), ``imgsz``, ``task`` and
``stride``; YOLOv5's writes ``names`` and ``stride`` only (a detector). Read with
``ast.literal_eval``, which evaluates literals and nothing else. Tasks whose outputs this daemon does
not decode (segment, pose, obb) give nothing, so such a model must be described in config.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any


def _literal(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _labels(names: Any) -> list[str] | None:
    if isinstance(names, dict) and set(names) == set(range(len(names))):
        names = [names[i] for i in range(len(names))]
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return names
    return None


def ultralytics_fields(props: Mapping[str, str]) -> dict[str, Any]:
    """Spec fields from Ultralytics metadata (``kind``, ``labels``, ``input_size``, ``resize``), or none."""
    labels = _labels(_literal(props.get("names")))
    if labels is None or "stride" not in props:
        return {}
    task = props.get("task", "detect")
    fields: dict[str, Any] = {"labels": labels}
    if task == "detect":
        fields.update(kind="detector", resize="letterbox")
    elif task == "classify":
        fields["kind"] = "classifier"
    else:
        return {}
    size = _literal(props.get("imgsz"))
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        fields["input_size"] = size
    return fields

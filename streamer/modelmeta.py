"""``metadata_props`` (or config) fields -> :class:`~streamer.modelspec.ModelSpec`, every value checked.

Every mistake is a ModelError naming the key, e.g. ``models.det.format: must be one of ...``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast, get_args

from streamer.errors import ModelError
from streamer.modelspec import (
    MODEL_KINDS,
    Activation,
    ColorOrder,
    DetectorFormat,
    InputDType,
    InputSpec,
    Layout,
    ModelKind,
    ModelSpec,
    ResizeMode,
    StateSpec,
)
from streamer.ultralytics import ultralytics_fields

# Keys whose metadata value is JSON; the rest are plain strings (or ints, below).
_JSON_KEYS = ("labels", "input_size", "mean", "std", "outputs", "state")
_INT_KEYS = ("feature_size", "pad_value")


def decode_metadata(props: Mapping[str, str], where: str = "model") -> dict[str, Any]:
    """Decode raw ``metadata_props`` strings into typed fields (JSON and int keys parsed)."""
    fields: dict[str, Any] = {}
    for key, raw in props.items():
        if key in _JSON_KEYS:
            try:
                fields[key] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ModelError(f"{where}: metadata {key!r} is not valid JSON: {exc.msg}") from None
        elif key in _INT_KEYS:
            try:
                fields[key] = int(raw)
            except ValueError:
                raise ModelError(f"{where}: metadata {key!r} is not an integer: {raw!r}") from None
        else:
            fields[key] = raw
    return fields


def metadata_fields(props: Mapping[str, str], where: str = "model") -> dict[str, Any]:
    """The fields a model's metadata gives: streamer's own keys, else what an Ultralytics export records."""
    fields = decode_metadata(props, where)
    if "kind" not in fields:
        fields = {**ultralytics_fields(props), **fields}
    return fields


def _choice(value: Any, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise ModelError(f"{where}.{key}: must be one of {', '.join(allowed)}, not {value!r}")
    return cast(str, value)


def _triple(value: Any, key: str, where: str) -> tuple[float, float, float]:
    if not (isinstance(value, list | tuple) and len(value) == 3):
        raise ModelError(f"{where}: {key} must be a list of 3 numbers")
    try:
        a, b, c = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: {key} must be a list of 3 numbers") from None
    return (a, b, c)


def spec_from_fields(fields: Mapping[str, Any], where: str = "model") -> ModelSpec:
    """Build a ModelSpec from decoded fields (metadata or config); unknown fields are ignored.

    Missing fields take the InputSpec defaults; completeness is checked by :meth:`ModelSpec.validated`.
    """
    if "kind" not in fields:
        raise ModelError(f'{where}.kind: model kind unknown; set kind = "classifier", "detector" or "embedding"')
    kind = cast(ModelKind, _choice(fields["kind"], MODEL_KINDS, "kind", where))
    labels = fields.get("labels", [])
    if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{where}: labels must be a list of strings")
    outputs = fields.get("outputs", {})
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        raise ModelError(f"{where}: outputs must map roles to output names")
    input_spec: InputSpec | None = None
    if "input_name" in fields or "input_size" in fields:
        size = fields.get("input_size")
        if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            raise ModelError(f"{where}: input_size must be [height, width]")
        if size[0] <= 0 or size[1] <= 0:
            raise ModelError(f"{where}: input_size must be positive")
        input_spec = InputSpec(
            name=str(fields.get("input_name", "")),
            height=int(size[0]),
            width=int(size[1]),
            layout=cast(Layout, _choice(fields.get("layout", "NCHW"), get_args(Layout), "layout", where)),
            color_order=cast(
                ColorOrder,
                _choice(fields.get("color_order", "RGB"), get_args(ColorOrder), "color_order", where),
            ),
            mean=_triple(fields.get("mean", [0.0, 0.0, 0.0]), "mean", where),
            std=_triple(fields.get("std", [1.0, 1.0, 1.0]), "std", where),
            resize=cast(ResizeMode, _choice(fields.get("resize", "stretch"), get_args(ResizeMode), "resize", where)),
            dtype=cast(
                InputDType,
                _choice(fields.get("input_dtype", "float32"), get_args(InputDType), "input_dtype", where),
            ),
            pad_value=_pad_value(fields.get("pad_value"), where),
        )
        if any(s <= 0 for s in input_spec.std):
            raise ModelError(f"{where}: std values must be positive")
    state: StateSpec | None = None
    raw_state = fields.get("state")
    if raw_state is not None:
        try:
            state = StateSpec(
                input=str(raw_state["input"]),
                output=str(raw_state["output"]),
                layers=int(raw_state["layers"]),
                size=int(raw_state["size"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{where}: state must be {{input, output, layers, size}}") from None
    feature_size = fields.get("feature_size")
    activation = _choice(fields.get("activation", "auto"), tuple(Activation), "activation", where)
    detector_format = _choice(fields.get("format", "auto"), tuple(DetectorFormat), "format", where)
    return ModelSpec(
        kind=kind,
        labels=tuple(labels),
        input=input_spec,
        outputs=dict(outputs),
        features_input=fields.get("features_input"),
        feature_size=int(feature_size) if feature_size is not None else None,
        state=state,
        producer=str(fields.get("producer", "")),
        activation=Activation(activation),
        detector_format=DetectorFormat(detector_format),
    )


def _pad_value(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ModelError(f"{where}.pad_value: must be a grey level from 0 to 255, not {value!r}")
    return value


def merged(spec_fields: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Config overrides win over metadata, key by key."""
    out = dict(spec_fields)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


__all__ = ["decode_metadata", "merged", "metadata_fields", "spec_from_fields"]

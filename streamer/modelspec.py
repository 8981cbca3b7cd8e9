"""What a model needs from the daemon, and how it is written into ONNX ``metadata_props``.

This module is the contract between ``export`` (which writes the facts) and the daemon (which
reads them). Every value in ``metadata_props`` is a string; structured values are JSON.

Keys (all optional for third-party models, whose facts can come from config instead):

==================  ==========================================================================
``kind``            ``classifier`` | ``detector`` | ``embedding`` | ``sequence``
``labels``          JSON list of class names, index order
``input_name``      name of the image input (image models)
``input_size``      JSON ``[height, width]``
``layout``          ``NCHW`` | ``NHWC``
``color_order``     ``RGB`` | ``BGR``
``mean`` / ``std``  JSON lists of 3 floats, in 0..1 units: ``x = (pixel / 255 - mean) / std``
``resize``          ``stretch`` | ``letterbox``
``input_dtype``     ``float32`` (normalised by the daemon) | ``uint8`` (normalised in the graph)
``outputs``         JSON object, role -> output name; roles: ``logits``, ``embedding``, ``boxes``
``features_input``  sequence models: name of the per-frame feature input ``[N, E]``
``feature_size``    sequence models: E
``state``           sequence models: JSON ``{"input": "h_in", "output": "h_out",
                    "layers": L, "size": H}``; the state tensor is ``[L, N, H]``
``producer``        free text, e.g. ``streamer-export 0.1.0 (torch 2.13.0)``
==================  ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from streamer.errors import ModelError

ModelKind = Literal["classifier", "detector", "embedding", "sequence"]
Layout = Literal["NCHW", "NHWC"]
ColorOrder = Literal["RGB", "BGR"]
ResizeMode = Literal["stretch", "letterbox"]
InputDType = Literal["float32", "uint8"]

MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
IMAGE_KINDS: tuple[str, ...] = ("classifier", "detector", "embedding")
# Output roles each kind must name (classifier embedding output is optional).
REQUIRED_ROLES: dict[str, tuple[str, ...]] = {
    "classifier": ("logits",),
    "detector": ("boxes",),
    "embedding": ("embedding",),
    "sequence": ("logits",),
}


@dataclass(frozen=True)
class InputSpec:
    """How a frame becomes the model's image input."""

    name: str
    height: int
    width: int
    layout: Layout = "NCHW"
    color_order: ColorOrder = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: ResizeMode = "stretch"
    dtype: InputDType = "float32"

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        """The input tensor shape for a batch of ``batch`` frames."""
        if self.layout == "NCHW":
            return (batch, 3, self.height, self.width)
        return (batch, self.height, self.width, 3)


@dataclass(frozen=True)
class StateSpec:
    """The recurrent state of a one-step sequence model: a ``[layers, N, size]`` tensor."""

    input: str
    output: str
    layers: int
    size: int


@dataclass(frozen=True)
class ModelSpec:
    """Everything the daemon must know to feed a model and read its outputs."""

    kind: ModelKind
    labels: tuple[str, ...] = ()
    input: InputSpec | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    features_input: str | None = None
    feature_size: int | None = None
    state: StateSpec | None = None
    producer: str = ""

    def output(self, role: str) -> str | None:
        """The output tensor name playing ``role``, if the model has one."""
        return self.outputs.get(role)

    def validated(self, where: str) -> ModelSpec:
        """Return self if complete for its kind, else raise ModelError naming what is missing."""
        if self.kind in IMAGE_KINDS and self.input is None:
            raise ModelError(f"{where}: {self.kind} model needs an input spec (input_name, input_size)")
        for role in REQUIRED_ROLES[self.kind]:
            if role not in self.outputs:
                raise ModelError(f"{where}: {self.kind} model needs an output for role {role!r} (outputs)")
        if self.kind == "sequence":
            if self.features_input is None or self.feature_size is None:
                raise ModelError(f"{where}: sequence model needs features_input and feature_size")
            if self.state is None:
                raise ModelError(f"{where}: sequence model needs a state spec (state)")
        if self.kind in ("classifier", "detector", "sequence") and not self.labels:
            raise ModelError(f"{where}: {self.kind} model needs labels")
        return self

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` entries that describe this model."""
        props: dict[str, str] = {"kind": self.kind, "producer": self.producer}
        if self.labels:
            props["labels"] = json.dumps(list(self.labels))
        if self.outputs:
            props["outputs"] = json.dumps(dict(self.outputs), sort_keys=True)
        if self.input is not None:
            inp = self.input
            props.update(
                input_name=inp.name,
                input_size=json.dumps([inp.height, inp.width]),
                layout=inp.layout,
                color_order=inp.color_order,
                mean=json.dumps(list(inp.mean)),
                std=json.dumps(list(inp.std)),
                resize=inp.resize,
                input_dtype=inp.dtype,
            )
        if self.features_input is not None:
            props["features_input"] = self.features_input
        if self.feature_size is not None:
            props["feature_size"] = str(self.feature_size)
        if self.state is not None:
            st = self.state
            props["state"] = json.dumps(
                {"input": st.input, "output": st.output, "layers": st.layers, "size": st.size}
            )
        return props

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], where: str = "model") -> ModelSpec:
        """Parse ``metadata_props`` (as written by :meth:`to_metadata`); raise ModelError if malformed."""
        return spec_from_fields(decode_metadata(props, where), where)


# Keys whose metadata value is JSON; the rest are plain strings (or ints, below).
_JSON_KEYS = ("labels", "input_size", "mean", "std", "outputs", "state")
_INT_KEYS = ("feature_size",)


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


def _choice(value: Any, allowed: tuple[str, ...], key: str, where: str) -> str:
    if value not in allowed:
        raise ModelError(f"{where}: {key} must be one of {', '.join(allowed)}, not {value!r}")
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
        raise ModelError(f"{where}: model kind unknown (set 'kind' in config or metadata)")
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
            resize=cast(
                ResizeMode, _choice(fields.get("resize", "stretch"), get_args(ResizeMode), "resize", where)
            ),
            dtype=cast(
                InputDType,
                _choice(fields.get("input_dtype", "float32"), get_args(InputDType), "input_dtype", where),
            ),
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
    return ModelSpec(
        kind=kind,
        labels=tuple(labels),
        input=input_spec,
        outputs=dict(outputs),
        features_input=fields.get("features_input"),
        feature_size=int(feature_size) if feature_size is not None else None,
        state=state,
        producer=str(fields.get("producer", "")),
    )


def merged(spec_fields: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Config overrides win over metadata, key by key."""
    out = dict(spec_fields)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


__all__ = [
    "IMAGE_KINDS",
    "MODEL_KINDS",
    "InputSpec",
    "ModelKind",
    "ModelSpec",
    "StateSpec",
    "decode_metadata",
    "merged",
    "spec_from_fields",
]

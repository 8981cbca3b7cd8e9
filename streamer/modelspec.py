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
``resize``          ``stretch`` | ``letterbox`` (centred) | ``pad`` (keep ratio, top-left, pad right/bottom)
``pad_value``       grey level 0..255 of the padding, before normalisation (letterbox 114, pad 0)
``input_dtype``     ``float32`` (normalised by the daemon) | ``uint8`` (normalised in the graph)
``outputs``         JSON object, role -> output name; roles: ``logits``, ``embedding``, ``boxes``
``activation``      classifiers: ``auto`` | ``softmax`` | ``sigmoid`` (multi-label) | ``none``
``format``          detectors: ``auto`` | ``yolov8`` | ``yolov5`` | ``nms`` (see :mod:`streamer.detectors`)
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
from enum import StrEnum
from typing import Literal, get_args

from streamer.errors import ModelError

ModelKind = Literal["classifier", "detector", "embedding", "sequence"]
Layout = Literal["NCHW", "NHWC"]
ColorOrder = Literal["RGB", "BGR"]
ResizeMode = Literal["stretch", "letterbox", "pad"]
InputDType = Literal["float32", "uint8"]


class Activation(StrEnum):
    """What turns a classifier's output into scores; ``auto`` reads the graph's final node."""

    AUTO = "auto"
    SOFTMAX = "softmax"  # logits -> one label per frame, top-k
    SIGMOID = "sigmoid"  # logits -> independent labels, every one above ``confidence``
    NONE = "none"  # the output is already a probability per label, top-k


class DetectorFormat(StrEnum):
    """The layout of a detector's output; ``auto`` picks the one the output's shape fits."""

    AUTO = "auto"
    YOLOV8 = "yolov8"  # [N, 4 + C, A]: cx, cy, w, h, class scores
    YOLOV5 = "yolov5"  # [N, A, 5 + C]: cx, cy, w, h, objectness, class scores
    NMS = "nms"  # [N, K, 6]: x1, y1, x2, y2, score, class (the graph already ran NMS)


LETTERBOX_FILL = 114  # the grey YOLO-family models are trained with

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
    pad_value: int | None = None  # grey level of letterbox/pad borders; None = the mode's default

    @property
    def fill(self) -> int:
        """The grey level the borders are filled with, before normalisation."""
        if self.pad_value is not None:
            return self.pad_value
        return LETTERBOX_FILL if self.resize == "letterbox" else 0

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
    activation: Activation = Activation.AUTO
    detector_format: DetectorFormat = DetectorFormat.AUTO
    # Set at load from the graph: its final node already applies ``activation`` (not applied again).
    activation_in_graph: bool = False

    def output(self, role: str) -> str | None:
        """The output tensor name playing ``role``, if the model has one."""
        return self.outputs.get(role)

    def validated(self, where: str) -> ModelSpec:
        """Return self if complete for its kind, else raise ModelError naming what is missing."""
        if self.kind in IMAGE_KINDS and self.input is None:
            raise ModelError(
                f"{where}.input_name: {self.kind} model needs an input spec; set input_name and "
                "input_size = [height, width] (streamer check --model PATH shows them)"
            )
        for role in REQUIRED_ROLES[self.kind]:
            if role not in self.outputs:
                raise ModelError(
                    f"{where}.outputs: {self.kind} model needs an output for role {role!r}; "
                    f'set outputs = {{ {role} = "OUTPUT_NAME" }}'
                )
        if self.kind == "sequence":
            if self.features_input is None or self.feature_size is None:
                raise ModelError(f"{where}: sequence model needs features_input and feature_size")
            if self.state is None:
                raise ModelError(f"{where}: sequence model needs a state spec (state)")
        if self.kind in ("classifier", "detector", "sequence") and not self.labels:
            raise ModelError(
                f'{where}.labels: {self.kind} model needs labels; set labels = ["...", ...], one per class'
            )
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
            if inp.pad_value is not None:
                props["pad_value"] = str(inp.pad_value)
        if self.activation is not Activation.AUTO:
            props["activation"] = self.activation.value
        if self.detector_format is not DetectorFormat.AUTO:
            props["format"] = self.detector_format.value
        if self.features_input is not None:
            props["features_input"] = self.features_input
        if self.feature_size is not None:
            props["feature_size"] = str(self.feature_size)
        if self.state is not None:
            st = self.state
            props["state"] = json.dumps({"input": st.input, "output": st.output, "layers": st.layers, "size": st.size})
        return props

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], where: str = "model") -> ModelSpec:
        """Parse ``metadata_props`` (as written by :meth:`to_metadata`); raise ModelError if malformed."""
        from streamer.modelmeta import decode_metadata, spec_from_fields  # modelmeta builds on this module

        return spec_from_fields(decode_metadata(props, where), where)


__all__ = [
    "IMAGE_KINDS",
    "LETTERBOX_FILL",
    "MODEL_KINDS",
    "Activation",
    "DetectorFormat",
    "InputSpec",
    "ModelKind",
    "ModelSpec",
    "StateSpec",
]

"""A model graph's inputs and outputs checked against its spec (pure: no onnxruntime here).

Fixed dimensions in the graph must equal the spec's; symbolic ones (the batch axis) accept any
size. Every failure is a ModelError naming the model and the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamer.errors import ModelError
from streamer.modelspec import REQUIRED_ROLES, ModelSpec


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output as the session describes it."""

    name: str
    shape: tuple[int | str | None, ...]
    type: str


@dataclass(frozen=True)
class SessionInfo:
    """What ONNX Runtime tells of a model file without a spec: its tensors, metadata and run shapes."""

    inputs: Mapping[str, TensorInfo]
    outputs: Mapping[str, TensorInfo]
    metadata: Mapping[str, str]
    run_shapes: Mapping[str, tuple[int, ...]]  # outputs of a batch-1 run on zeros; empty if none could run


def graph_defaults(
    fields: Mapping[str, Any], inputs: Mapping[str, TensorInfo], outputs: Mapping[str, TensorInfo]
) -> dict[str, Any]:
    """``fields`` completed with what the graph fixes beyond doubt: the name and fixed size of its only
    input (in the layout given or NCHW), and the output of the required role when there is one output."""
    out = dict(fields)
    if len(inputs) == 1 and out.get("kind") in ("classifier", "detector", "embedding"):
        info = next(iter(inputs.values()))
        out.setdefault("input_name", info.name)
        hw = info.shape[1:3] if out.get("layout") == "NHWC" else info.shape[2:4]
        if "input_size" not in out and len(info.shape) == 4 and all(isinstance(d, int) for d in hw):
            out["input_size"] = list(hw)
    roles = REQUIRED_ROLES.get(str(out.get("kind")), ())
    if len(outputs) == 1 and len(roles) == 1 and roles[0] not in out.get("outputs", {}):
        out["outputs"] = {**out.get("outputs", {}), roles[0]: next(iter(outputs))}
    return out


def _check_dims(info: TensorInfo, expected: tuple[int | None, ...], where: str) -> None:
    """Fixed dims in the model must equal the spec's; symbolic dims (batch) accept anything."""
    if len(info.shape) != len(expected):
        raise ModelError(
            f"{where}: input {info.name!r} has rank {len(info.shape)} {list(info.shape)}, spec expects {len(expected)}"
        )
    for have, want in zip(info.shape, expected, strict=True):
        if isinstance(have, int) and want is not None and have != want:
            raise ModelError(
                f"{where}: input {info.name!r} has shape {list(info.shape)}, spec expects "
                f"{['N' if w is None else w for w in expected]}"
            )


def check_io(spec: ModelSpec, inputs: Mapping[str, TensorInfo], outputs: Mapping[str, TensorInfo], where: str) -> None:
    """Raise ModelError unless the graph's inputs and outputs are what ``spec`` says it feeds and reads."""
    for role, out_name in spec.outputs.items():
        if out_name not in outputs:
            raise ModelError(f"{where}: output {out_name!r} (role {role}) not in model outputs {sorted(outputs)}")
    if spec.input is not None:
        info = inputs.get(spec.input.name)
        if info is None:
            raise ModelError(f"{where}: input {spec.input.name!r} not in model inputs {sorted(inputs)}")
        want_type = "tensor(uint8)" if spec.input.dtype == "uint8" else "tensor(float)"
        if info.type != want_type:
            raise ModelError(f"{where}: input {info.name!r} is {info.type}, spec says {spec.input.dtype}")
        _check_dims(info, (None, *spec.input.shape(1)[1:]), where)
    if spec.kind == "sequence" and spec.state is not None and spec.features_input is not None:
        feat = inputs.get(spec.features_input)
        if feat is None:
            raise ModelError(f"{where}: features input {spec.features_input!r} not in model inputs")
        _check_dims(feat, (None, spec.feature_size), where)
        state = inputs.get(spec.state.input)
        if state is None:
            raise ModelError(f"{where}: state input {spec.state.input!r} not in model inputs")
        _check_dims(state, (spec.state.layers, None, spec.state.size), where)
        if spec.state.output not in outputs:
            raise ModelError(f"{where}: state output {spec.state.output!r} not in model outputs")
    extra = set(inputs) - {n for n in _fed_inputs(spec) if n}
    if extra:
        raise ModelError(f"{where}: model has inputs the spec does not feed: {sorted(extra)}")


def _fed_inputs(spec: ModelSpec) -> list[str | None]:
    names: list[str | None] = [spec.input.name if spec.input else None, spec.features_input]
    if spec.state is not None:
        names.append(spec.state.input)
    return names

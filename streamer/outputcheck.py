"""A model's outputs after its warm-up run: activation and detector format resolved, message size bounded.

Pure: takes the shapes a batch-1 run produced and the graph's facts, returns the resolved spec or
raises a ModelError that names the model key to set. Run at load, so ``streamer check`` refuses
what ``streamer run`` would get wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.detectors import fit_format
from streamer.errors import ModelError
from streamer.graph import GraphFacts
from streamer.model_config import ModelConfig
from streamer.modelspec import Activation, DetectorFormat, ModelSpec

# JSON bytes of one published item, generous: a float rounded to 6 decimals with its separator
# ("-12.345678, "), a scored label, a detection with its box.
BYTES_PER_VALUE = 12
BYTES_PER_LABEL = 40
BYTES_PER_DETECTION = 120
# Everything of a message that is not a model's output (stream, seq, times, sequence label).
MESSAGE_BASE_BYTES = 512

PROBABILITY_SLACK = 1e-4  # float rounding of probabilities computed in the graph

_GRAPH_ACTIVATIONS = {"Softmax": Activation.SOFTMAX, "Sigmoid": Activation.SIGMOID}


def resolve_activation(configured: Activation, final_op: str, where: str, output: str) -> tuple[Activation, bool]:
    """The activation to score a classifier with, and whether its graph already applies it.

    ``auto`` takes a final Softmax or Sigmoid node as the answer (not applied again) and applies
    softmax to anything else (logits). An explicit activation the graph already ends in is not
    applied twice; one that contradicts the graph's is refused.
    """
    in_graph = _GRAPH_ACTIVATIONS.get(final_op)
    if configured is Activation.AUTO:
        return (in_graph, True) if in_graph is not None else (Activation.SOFTMAX, False)
    if configured is Activation.NONE or in_graph is None:
        return configured, False
    if in_graph is configured:
        return configured, True
    raise ModelError(
        f"{where}.activation: output {output!r} already ends in {final_op}; {configured} over it would "
        f'distort the scores; set activation = "auto" or "none"'
    )


def resolve(spec: ModelSpec, shapes: Mapping[str, tuple[int, ...]], facts: GraphFacts, where: str) -> ModelSpec:
    """``spec`` with its activation and detector format resolved against a batch-1 run's output ``shapes``."""
    if spec.kind != "classifier" and spec.activation is not Activation.AUTO:
        raise ModelError(f"{where}.activation: applies to classifiers, not a {spec.kind}; remove it")
    if spec.kind != "detector" and spec.detector_format is not DetectorFormat.AUTO:
        raise ModelError(f"{where}.format: applies to detectors, not a {spec.kind}; remove it")
    if spec.kind == "classifier":
        logits = spec.outputs["logits"]
        activation, in_graph = resolve_activation(spec.activation, facts.final_op(logits), where, logits)
        return dataclasses.replace(spec, activation=activation, activation_in_graph=in_graph)
    if spec.kind == "detector":
        boxes = spec.outputs["boxes"]
        fmt = fit_format(
            spec.detector_format, shapes[boxes], len(spec.labels), graph_nms=facts.nms, where=where, output=boxes
        )
        return dataclasses.replace(spec, detector_format=fmt)
    return spec


def check_probabilities(spec: ModelSpec, scores: npt.NDArray[Any], where: str) -> None:
    """Refuse ``activation = "none"`` on a classifier whose (warm-up) output is not in 0..1.

    Scores are published as probabilities (the message schema bounds them to 0..1); a run on zero
    frames that gives logits shows the output is not one.
    """
    if spec.kind != "classifier" or spec.activation is not Activation.NONE or scores.size == 0:
        return
    low, high = float(np.min(scores)), float(np.max(scores))
    if low < -PROBABILITY_SLACK or high > 1 + PROBABILITY_SLACK or not (np.isfinite(low) and np.isfinite(high)):
        bad = low if low < 0 or not np.isfinite(low) else high
        raise ModelError(
            f"{where}.activation: output {spec.outputs['logits']!r} gave {bad:.4g} on a warm-up run, not a "
            f'probability; set activation = "auto" or "softmax" for logits'
        )


def describe_scoring(spec: ModelSpec) -> str:
    """How a resolved model's outputs become a message, for ``streamer check``."""
    if spec.kind == "detector":
        return f"format {spec.detector_format}"
    if spec.kind != "classifier":
        return ""
    if spec.activation is Activation.NONE:
        return "activation none (the output is used as scores)"
    what = "multi-label, every label above confidence" if spec.activation is Activation.SIGMOID else "top-k"
    where = "already in the graph" if spec.activation_in_graph else "applied by the daemon"
    return f"activation {spec.activation} ({where}; {what})"


@dataclasses.dataclass(frozen=True)
class MessageShare:
    """What one model adds to every message, estimated in JSON bytes; the key that decides most of it."""

    bytes: int
    key: str = ""
    output: str = ""
    values: int = 0


def message_share(spec: ModelSpec, shapes: Mapping[str, tuple[int, ...]], cfg: ModelConfig) -> MessageShare:
    """The most one model can add to a message: its embedding, labels or detections."""
    parts: list[MessageShare] = []
    emb = spec.output("embedding")
    if emb is not None and emb in shapes and (cfg.publish_embedding or spec.kind == "embedding"):
        values = 1
        for d in shapes[emb][1:]:
            values *= d
        key = "outputs" if spec.kind == "embedding" else "publish_embedding"
        parts.append(MessageShare(values * BYTES_PER_VALUE, key, emb, values))
    if spec.kind == "classifier":
        multi = spec.activation is Activation.SIGMOID
        labels = len(spec.labels) if multi else min(cfg.top_k, len(spec.labels))
        parts.append(MessageShare(labels * BYTES_PER_LABEL, "confidence" if multi else "top_k"))
    elif spec.kind == "detector":
        parts.append(MessageShare(cfg.max_detections * BYTES_PER_DETECTION, "max_detections"))
    if not parts:
        return MessageShare(0)
    biggest = max(parts, key=lambda p: p.bytes)
    return dataclasses.replace(biggest, bytes=sum(p.bytes for p in parts))


def check_message_size(shares: Mapping[str, MessageShare], limit: int) -> None:
    """Refuse models whose outputs together would make a message over ``limit`` bytes, naming the largest."""
    total = MESSAGE_BASE_BYTES + sum(s.bytes for s in shares.values())
    if total <= limit:
        return
    name, big = max(shares.items(), key=lambda kv: kv[1].bytes)
    what = f"output {big.output!r} has {big.values} values, " if big.output else ""
    fix = _FIXES.get(big.key, "publish less")
    raise ModelError(
        f"models.{name}.{big.key}: {what}about {total} bytes of JSON per message, over "
        f"publish.max_message_bytes = {limit}; {fix}, or raise publish.max_message_bytes"
    )


_FIXES = {
    "outputs": "name a smaller embedding output",
    "publish_embedding": "set publish_embedding = false",
    "top_k": "lower top_k",
    "confidence": "raise confidence",
    "max_detections": "lower max_detections",
}

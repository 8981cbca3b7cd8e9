"""Raw model outputs of one frame into a :class:`ModelOutput`, by model kind.

Classifiers give their top-k labels, detectors their boxes in source pixels (decoded, class-aware
NMS), embedding models their vector; any model with an embedding output may publish it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.modelset import ImageModel
from streamer.postprocess import DetectorParams, classify, detect
from streamer.records import ModelOutput, Transform


def model_output(
    im: ImageModel, raw: dict[str, npt.NDArray[Any]], i: int, transform: Transform, size: tuple[int, int]
) -> ModelOutput:
    """What ``im`` said about row ``i`` of its batch outputs ``raw``; ``size`` is the source (w, h)."""
    spec, cfg, name = im.model.spec, im.cfg, im.model.name
    embedding = None
    emb_name = spec.output("embedding")
    if emb_name is not None and (cfg.publish_embedding or spec.kind == "embedding"):
        embedding = tuple(round(float(v), 6) for v in raw[emb_name][i].reshape(-1))
    if spec.kind == "classifier":
        logits = raw[spec.outputs["logits"]][i].astype(np.float32).reshape(-1)
        top = classify(logits, spec, cfg.top_k, cfg.confidence)
        return ModelOutput(name, spec.kind, top=top, embedding=embedding)
    if spec.kind == "detector":
        params = DetectorParams(cfg.confidence, cfg.iou, cfg.max_detections)
        boxes = raw[spec.outputs["boxes"]][i].astype(np.float32)
        return ModelOutput(name, spec.kind, detections=detect(boxes, spec, transform, size, params))
    return ModelOutput(name, spec.kind, embedding=embedding)

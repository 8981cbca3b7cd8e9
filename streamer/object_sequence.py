"""The per-object sequence stage: one step of the sequence model for every tracked object of a batch.

Features: each object's *view* goes through the per-frame model that feeds the sequence model (the
frame CNN): its preprocessed batch input with everything outside the object's box (plus a margin)
set to the normalisation mean, so the object stays where it is in the frame. The sequence model
was trained on that CNN's embeddings of whole frames, where motion shows as a change of position;
a crop scaled to fill the input would erase exactly that. The view comes from the tensor already
in the batch, with no second decode or resize of the source frame.

Then every object of every stream in the batch steps at once: states gathered from
:class:`~streamer.objstate.ObjectStates` by ``(stream, track_id)``, one model run, states scattered
back. Runs go in chunks of ``max_batch`` objects, so input shapes stay those the models warmed up on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from streamer.modelset import ImageModel, SequenceModel
from streamer.modelspec import InputSpec
from streamer.objstate import ObjectKey, ObjectStates
from streamer.postprocess import softmax, top_k
from streamer.records import Detection, FrameInfo, ModelOutput, SequenceOutput, Transform
from streamer.runtime import Model

Outputs = dict[str, npt.NDArray[Any]]
RunModel = Callable[[Model, dict[str, npt.NDArray[Any]], int], Outputs]
# The view keeps this fraction of the box's size around it on each side: the object's edges and
# a little context, as the frame model saw around objects in training.
VIEW_MARGIN = 0.15


class ObjectView:
    """Writes an object's view: a model input with all but the object's box set to the mean colour."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        # The input value of a mean-coloured pixel per channel: 0 after normalisation, or for a
        # graph that normalises itself (uint8 input) the raw pixel value of the mean.
        value = np.zeros(3, np.float32) if spec.dtype == "float32" else np.round(np.asarray(spec.mean) * 255)
        value = value.astype(np.uint8 if spec.dtype == "uint8" else np.float32)
        self.fill = value.reshape(3, 1, 1) if spec.layout == "NCHW" else value.reshape(1, 1, 3)

    def write(
        self, out: npt.NDArray[Any], image: npt.NDArray[Any], box: tuple[float, float, float, float], t: Transform
    ) -> None:
        """Write into ``out`` the model input ``image`` with all but the source-pixel ``box`` (and margin) filled."""
        spec = self.spec
        x1, y1, x2, y2 = box
        mx, my = (x2 - x1) * VIEW_MARGIN, (y2 - y1) * VIEW_MARGIN
        left = max(0, math.floor((x1 - mx) * t.scale_x + t.pad_x))
        top = max(0, math.floor((y1 - my) * t.scale_y + t.pad_y))
        right = min(spec.width, math.ceil((x2 + mx) * t.scale_x + t.pad_x))
        bottom = min(spec.height, math.ceil((y2 + my) * t.scale_y + t.pad_y))
        out[...] = self.fill
        if right <= left or bottom <= top:
            return
        if spec.layout == "NCHW":
            out[:, top:bottom, left:right] = image[:, top:bottom, left:right]
        else:
            out[top:bottom, left:right] = image[top:bottom, left:right]


@dataclass(frozen=True)
class _Object:
    frame: int  # row in the batch
    output: int  # index of the detector's output in the frame's outputs
    detection: int
    key: ObjectKey


def _chunks(objects: list[_Object], size: int) -> list[list[_Object]]:
    """Runs of at most ``size`` objects, never holding one object twice (its steps are in order)."""
    chunks: list[list[_Object]] = [[]]
    seen: set[ObjectKey] = set()
    for obj in objects:
        if len(chunks[-1]) >= size or obj.key in seen:
            chunks.append([])
            seen.clear()
        chunks[-1].append(obj)
        seen.add(obj.key)
    return [c for c in chunks if c]


class ObjectSequenceStep:
    """Owns the per-object states and view buffers; called by the inference thread alone."""

    def __init__(self, seq: SequenceModel, features: ImageModel, max_batch: int) -> None:
        spec, inp = seq.model.spec, features.model.spec.input
        if spec.state is None or spec.features_input is None or inp is None or seq.objects_from is None:
            raise ValueError(f"model {seq.model.name} is not a per-object one-step sequence model")
        self.seq, self.features, self.max_batch = seq, features, max_batch
        self.states = ObjectStates(spec.state.layers, spec.state.size)
        self._h = np.zeros((spec.state.layers, max_batch, spec.state.size), np.float32)
        self._views = np.empty(inp.shape(max_batch), np.uint8 if inp.dtype == "uint8" else np.float32)
        self._view = ObjectView(inp)

    def __call__(
        self,
        infos: Sequence[FrameInfo],
        outputs: Sequence[tuple[ModelOutput, ...]],
        images: npt.NDArray[Any],
        transforms: Sequence[Transform],
        run: RunModel,
    ) -> tuple[list[tuple[ModelOutput, ...]], dict[str, int]]:
        """Label every tracked object of the batch; ``images`` and ``transforms`` are the features model's.

        Returns the outputs with ``sequence`` set on each tracked detection, and steps per stream.
        """
        objects = [
            _Object(i, k, j, (info.stream, d.track_id))
            for i, info in enumerate(infos)
            for k, o in enumerate(outputs[i])
            if o.model == self.seq.objects_from
            for j, d in enumerate(o.detections)
            if d.track_id is not None
        ]
        labels: dict[tuple[int, int, int], SequenceOutput] = {}
        for chunk in _chunks(objects, self.max_batch):
            for obj, label in zip(chunk, self._step(chunk, outputs, images, transforms, run), strict=True):
                labels[(obj.frame, obj.output, obj.detection)] = label
        steps: dict[str, int] = {}
        for obj in objects:
            steps[obj.key[0]] = steps.get(obj.key[0], 0) + 1
        if not labels:
            return list(outputs), steps
        result = []
        for i, outs in enumerate(outputs):
            result.append(tuple(self._labelled(i, k, o, labels) for k, o in enumerate(outs)))
        return result, steps

    @staticmethod
    def _labelled(i: int, k: int, o: ModelOutput, labels: dict[tuple[int, int, int], SequenceOutput]) -> ModelOutput:
        if not any((i, k, j) in labels for j in range(len(o.detections))):
            return o
        dets: list[Detection] = [
            replace(d, sequence=labels[(i, k, j)]) if (i, k, j) in labels else d for j, d in enumerate(o.detections)
        ]
        return replace(o, detections=tuple(dets))

    def _step(
        self,
        chunk: list[_Object],
        outputs: Sequence[tuple[ModelOutput, ...]],
        images: npt.NDArray[Any],
        transforms: Sequence[Transform],
        run: RunModel,
    ) -> list[SequenceOutput]:
        inp = self.features.model.spec.input
        spec = self.seq.model.spec
        assert inp is not None and spec.state is not None and spec.features_input is not None  # __init__
        m = len(chunk)
        for row, obj in enumerate(chunk):
            box = outputs[obj.frame][obj.output].detections[obj.detection].box
            self._view.write(self._views[row], images[obj.frame], box, transforms[obj.frame])
        emb_name = self.features.model.spec.outputs["embedding"]
        emb = run(self.features.model, {inp.name: self._views[:m]}, m)[emb_name]
        keys = [obj.key for obj in chunk]
        self.states.gather(keys, self._h)
        feeds = {
            spec.features_input: np.ascontiguousarray(emb.reshape(m, -1), dtype=np.float32),
            spec.state.input: np.ascontiguousarray(self._h[:, :m]),
        }
        out = run(self.seq.model, feeds, m)
        steps = self.states.scatter(keys, out[spec.state.output])
        probs = softmax(out[spec.outputs["logits"]].astype(np.float32))
        name = self.seq.model.name
        labels = []
        for row in range(m):
            best = top_k(probs[row], spec.labels, 1)[0]
            labels.append(SequenceOutput(name, best.label, best.score, int(steps[row])))
        return labels

    def end(self, stream: str, track_ids: Sequence[int]) -> int:
        """Drop the states of a stream's ended tracks."""
        return self.states.end((stream, t) for t in track_ids)

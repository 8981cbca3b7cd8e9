"""Training data of the per-object motion model: the frame CNN's embedding of each object's view.

What the daemon's per-object stage feeds its GRU, made from generated multi-object scenes: each
frame through the daemon's :class:`~streamer.prepare.FramePreparer`, each object's view written by
the daemon's :class:`~streamer.object_sequence.ObjectView` from its ground-truth box jittered like
a detector's, embedded by the exported frame CNN in ONNX Runtime. One sequence per object, in time
order, over the frames where it is seen enough to be detected (``MIN_VISIBILITY``): a mostly hidden
object gets no detection, so its track takes no step then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from export.datasets import SPLIT_OBJECT_MOTION_TRAIN
from export.object_data import MIN_VISIBILITY
from export.object_motion import OBJECT_MOTIONS
from export.ort_run import session
from export.scenes_objects import ObjectScene, ObjectTruth
from streamer.modelspec import InputSpec
from streamer.object_sequence import ObjectView
from streamer.prepare import FramePreparer
from streamer.records import Frame, FrameInfo

MIN_STEPS = 4  # objects seen on fewer frames make no sequence


@dataclass(frozen=True)
class ObjectSequences:
    """Per-object sequences laid end to end: object ``i`` is steps ``offsets[i]:offsets[i + 1]``.

    The fields the GRU trainer reads (:func:`export.train.train_sequence_gru`).
    """

    embeddings: np.ndarray  # [F, E] float32
    motion_labels: np.ndarray  # [F] int64 into motion_classes
    segment_starts: np.ndarray  # [F] bool: an object's first step
    offsets: np.ndarray  # [S + 1] int64
    motion_classes: tuple[str, ...] = OBJECT_MOTIONS

    @property
    def num_clips(self) -> int:
        """Number of object sequences."""
        return len(self.offsets) - 1


def jitter_box(
    rng: np.random.Generator, box: tuple[float, float, float, float], scale: float
) -> tuple[float, float, float, float]:
    """``box`` with each edge moved by a normal fraction (std ``scale``) of the box's size."""
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    dx1, dy1, dx2, dy2 = rng.normal(0.0, scale, 4)
    return x1 + dx1 * w, y1 + dy1 * h, x2 + dx2 * w, y2 + dy2 * h


class ViewEmbedder:
    """The exported frame CNN (ONNX Runtime) on object views, prepared as the daemon prepares them."""

    def __init__(self, cnn_path: Path, spec: InputSpec) -> None:
        self.sess: ort.InferenceSession = session(cnn_path)
        self.spec = spec
        self.preparer = FramePreparer({"frame": spec})
        self.view = ObjectView(spec)

    def embed(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]], info: FrameInfo) -> np.ndarray:
        """``[len(boxes), E]`` embeddings of the views of ``boxes`` (camera pixels) in ``image``."""
        prepared = self.preparer(Frame(info, image)).inputs["frame"]
        views = np.empty((len(boxes), *prepared.tensor.shape), prepared.tensor.dtype)
        for row, box in enumerate(boxes):
            self.view.write(views[row], prepared.tensor, box, prepared.transform)
        (emb,) = self.sess.run(["embedding"], {self.spec.name: views})
        out: np.ndarray = emb.reshape(len(boxes), -1).astype(np.float32)
        return out


def _seen(objects: tuple[ObjectTruth, ...]) -> Iterator[ObjectTruth]:
    return (o for o in objects if o.visibility >= MIN_VISIBILITY and o.motion in OBJECT_MOTIONS)


def object_sequences(
    embedder: ViewEmbedder, seed: int, clips: int, length: int, box_jitter: float, jpeg_prob: float = 0.3
) -> ObjectSequences:
    """The view embeddings of every object of ``clips`` generated scenes of ``length`` frames."""
    rng = np.random.default_rng([seed, SPLIT_OBJECT_MOTION_TRAIN, 1])
    per_object: dict[tuple[int, int], list[np.ndarray]] = {}
    motion: dict[tuple[int, int], str] = {}
    for c in tqdm(range(clips), desc="object views", unit="clip", leave=False):
        scene = ObjectScene([seed, SPLIT_OBJECT_MOTION_TRAIN, c], length, jpeg_prob=jpeg_prob)
        for t in range(length):
            frame = scene.frame(t)
            seen = list(_seen(frame.objects))
            if not seen:
                continue
            info = FrameInfo("train", t, 0, 0.0, 0.0, scene.width, scene.height)
            boxes = [jitter_box(rng, o.box, box_jitter) for o in seen]
            for obj, emb in zip(seen, embedder.embed(frame.image, boxes, info), strict=True):
                per_object.setdefault((c, obj.id), []).append(emb)
                motion[(c, obj.id)] = obj.motion
    keys = [k for k, steps in per_object.items() if len(steps) >= MIN_STEPS]
    if not keys:
        raise ValueError("the generated scenes hold no object seen long enough to learn its motion")
    sizes = np.array([len(per_object[k]) for k in keys], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    starts = np.zeros(int(offsets[-1]), bool)
    starts[offsets[:-1]] = True
    labels = np.repeat([OBJECT_MOTIONS.index(motion[k]) for k in keys], sizes).astype(np.int64)
    return ObjectSequences(
        embeddings=np.concatenate([np.stack(per_object[k]) for k in keys]),
        motion_labels=labels,
        segment_starts=starts,
        offsets=offsets,
    )

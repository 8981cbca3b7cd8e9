"""Per-object motion accuracy on the held-out clips, through the daemon's own stages end to end.

Each held-out clip goes through the detector (ONNX Runtime, the daemon's preprocess and decode, as
for the tracking figures), :class:`streamer.tracks.TrackStage` with the reference detector's
``[tracking]`` table (``REFERENCE_TRACKING``), then
:class:`streamer.object_sequence.ObjectSequenceStep` with the bundled frame CNN and the motion
GRU: every confirmed track steps once per frame on the frame CNN's embedding of its view, its state
born and kept with the track, as in the daemon.

Scored: the frames where py-motmetrics pairs a track with a counted ground-truth object (its
matches and switches behind MOTA: IoU >= 0.5, don't-care objects excluded), once the track has
stepped ``SETTLE`` times, the warm-up the sequence figures also leave unscored. A scored frame is
right when the track's sequence label is the object's motion. Unmatched tracks (false alarms) and
missed objects are not scored here: MOTA counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from export.detection_eval import RunFn
from export.detector_figures import onnx_runner
from export.detector_onnx import DETECTOR_ONNX
from export.object_gru import OBJECT_GRU_ONNX
from export.onnx_io import FRAME_ONNX, SEQUENCE_ONNX, read_spec
from export.scenes_objects import ObjectTruth
from export.tracking_eval import CLIP_IDS, MODEL, accumulate, detected_clips, new_tracker, track
from export.train_detector import DetectorTrainConfig, detector_config
from streamer.model_config import ModelConfig
from streamer.modelset import ImageModel, SequenceModel
from streamer.object_sequence import ObjectSequenceStep
from streamer.prepare import FramePreparer
from streamer.records import Detection, Frame, FrameInfo, ModelOutput
from streamer.runtime import Model, load_model

SETTLE = 16  # steps of a track before its label is scored (the sequence model's warm-up)
FEATURES = "frame"  # the frame CNN's name in the evaluation's models

Detections = tuple[Detection, ...]


@dataclass(frozen=True)
class MotionFigures:
    """Per-object motion accuracy (percent) and what it was computed on."""

    accuracy: float
    scored: int  # matched (object, track) frames past the warm-up
    objects: int  # ground-truth objects scored at least once


class ObjectLabeller:
    """The daemon's per-object sequence stage over one stream's tracked detections, frame by frame."""

    def __init__(self, cnn_path: Path, gru_path: Path) -> None:
        cnn_cfg, gru_cfg = ModelConfig(path=str(cnn_path)), ModelConfig(path=str(gru_path))
        cnn = ImageModel(load_model(FEATURES, cnn_path, cnn_cfg, 1), cnn_cfg)
        gru = load_model("motion", gru_path, gru_cfg, 8)
        if cnn.model.spec.input is None:
            raise ValueError(f"{cnn_path} has no image input")
        self.step = ObjectSequenceStep(SequenceModel(gru, FEATURES, MODEL), cnn, 8)
        self.preparer = FramePreparer({FEATURES: cnn.model.spec.input})

    def label(self, info: FrameInfo, image: npt.NDArray[np.uint8], dets: Detections) -> Detections:
        """``dets`` (with their track ids) each with its track's ``sequence`` after this frame's step."""
        prepared = self.preparer(Frame(info, image)).inputs[FEATURES]
        outputs = [(ModelOutput(MODEL, "detector", detections=dets),)]
        labelled, _ = self.step([info], outputs, prepared.tensor[None], [prepared.transform], _run)
        return labelled[0][0].detections

    def label_clip(
        self, stream: str, images: Sequence[npt.NDArray[np.uint8]], tracked: Sequence[Detections]
    ) -> list[Detections]:
        """Every frame of one clip in order, as one stream."""
        out = []
        for seq, (image, dets) in enumerate(zip(images, tracked, strict=True)):
            h, w = image.shape[:2]
            out.append(self.label(FrameInfo(stream, seq, 0, 0.0, 0.0, w, h), image, dets))
        return out


def _run(model: Model, feeds: dict[str, npt.NDArray[Any]], _n: int) -> dict[str, npt.NDArray[Any]]:
    return model.run(feeds)


Labelled = tuple[Sequence[Sequence[ObjectTruth]], Sequence[Sequence[Detection]]]  # one clip: truths, tracks


def motion_accuracy(clips: Sequence[Labelled]) -> MotionFigures:
    """Score the labelled tracks of every ``(truths, labelled)`` clip on motmetrics' matches."""
    acc = accumulate(clips)
    # The accumulator numbers frames 0.. across all clips in order, and ids as accumulate() does.
    truth_of: list[dict[int, ObjectTruth]] = []
    track_of: list[dict[int, Detection]] = []
    for i, (truths, labelled) in enumerate(clips):
        offset = i * CLIP_IDS
        for gts, dets in zip(truths, labelled, strict=True):
            truth_of.append({offset + g.id: g for g in gts})
            track_of.append({offset + d.track_id: d for d in dets if d.track_id is not None})
    events = acc.mot_events
    pairs = events[events["Type"].isin(["MATCH", "SWITCH"])]
    right = scored = 0
    objects: set[int] = set()
    for (frame, _), oid, hid in zip(pairs.index, pairs["OId"], pairs["HId"], strict=True):
        det = track_of[int(frame)][int(hid)]
        if det.sequence is None or det.sequence.steps < SETTLE:
            continue
        scored += 1
        objects.add(int(oid))
        right += det.sequence.label == truth_of[int(frame)][int(oid)].motion
    return MotionFigures(100.0 * right / scored if scored else float("nan"), scored, len(objects))


def heldout_motion(
    run: RunFn, cfg: DetectorTrainConfig, detector: Path, labeller: ObjectLabeller, clips: int | None = None
) -> MotionFigures:
    """Detect, track and label every frame of the held-out clips (the first ``clips`` when set), then score."""
    scored = []
    which = range(cfg.heldout_clips if clips is None else clips)
    for i, (clip, images) in zip(which, detected_clips(run, read_spec(detector), cfg, which), strict=True):
        stream = f"heldout{i}"
        tracked = track(clip, new_tracker(), stream)
        scored.append((clip.truths, labeller.label_clip(stream, images, tracked)))
    return motion_accuracy(scored)


def motion_model(model_dir: Path) -> Path | None:
    """The per-object motion GRU of ``model_dir``: ``object_gru.onnx``, else ``sequence_gru.onnx``."""
    return next((p for p in (model_dir / OBJECT_GRU_ONNX, model_dir / SEQUENCE_ONNX) if p.is_file()), None)


def object_sequence_figures(model_dir: Path) -> dict[str, object]:
    """``object_sequence_accuracy`` of the detector, the tracker and the per-object motion model in
    ``model_dir``: the frame CNN with ``object_gru.onnx``, or with ``sequence_gru.onnx`` where
    there is no per-object GRU (empty without a detector, a frame CNN or a GRU)."""
    detector, cnn, gru = model_dir / DETECTOR_ONNX, model_dir / FRAME_ONNX, motion_model(model_dir)
    if gru is None or not (detector.is_file() and cnn.is_file()):
        return {}
    cfg = detector_config(model_dir)
    m = heldout_motion(onnx_runner(detector), cfg, detector, ObjectLabeller(cnn, gru))
    return {
        "object_sequence_accuracy": round(m.accuracy, 2),
        "object_sequence_heldout": {
            "clips": cfg.heldout_clips,
            "scored_frames": m.scored,
            "objects": m.objects,
            "settle_steps": SETTLE,
            "models": f"{cnn.name} on each object's view, {gru.name}",
        },
    }

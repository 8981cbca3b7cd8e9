"""Tracking and per-object motion figures of the bundled objects demo, made as the daemon makes them.

``objects.mp4`` decoded by OpenCV (as the daemon reads a file), through the detector at the daemon's
default decode thresholds, the tracker with the reference detector's table on the clip's own
timeline and the per-object motion model; scored against ``objects.json`` as the held-out clips
are (:mod:`export.tracking_eval`, :mod:`export.object_sequence_eval`). The objects demo test holds
the daemon's published tracks to these figures.
"""

from __future__ import annotations

from pathlib import Path

from export.detection_eval import detect
from export.detector_figures import onnx_runner
from export.detector_onnx import DETECTOR_ONNX
from export.object_sequence_eval import ObjectLabeller, motion_accuracy, motion_model
from export.objects_demo import OBJECTS_CLIP, OBJECTS_LABELS, decode_frames, read_objects_truth
from export.onnx_io import FRAME_ONNX, read_spec
from export.tracking_eval import ClipDetections, accumulate, daemon_params, mot_figures, new_tracker, track

STREAM = "objects"


def demo_object_figures(model_dir: Path) -> dict[str, float]:
    """``demo_tracking_mota``, ``demo_tracking_idf1`` and, with a motion model,
    ``demo_object_sequence_accuracy`` (empty without the detector or the demo clip)."""
    detector, clip, labels = model_dir / DETECTOR_ONNX, model_dir / OBJECTS_CLIP, model_dir / OBJECTS_LABELS
    spec = read_spec(detector) if detector.is_file() else None
    if spec is None or spec.input is None or not (clip.is_file() and labels.is_file()):
        return {}
    truths, frames = read_objects_truth(labels), decode_frames(clip)
    if len(frames) != len(truths):
        raise ValueError(f"{clip}: {len(frames)} frames decoded, {labels} describes {len(truths)}")
    dets = detect(onnx_runner(detector), frames, spec.input, spec.labels, params=daemon_params())
    height, width = frames[0].shape[:2]
    tracked = track(ClipDetections(tuple(dets), truths, (width, height)), new_tracker(), STREAM)
    mot = mot_figures(accumulate([(truths, tracked)]))
    figures = {"demo_tracking_mota": round(mot.mota, 4), "demo_tracking_idf1": round(mot.idf1, 4)}
    gru, cnn = motion_model(model_dir), model_dir / FRAME_ONNX
    if gru is not None and cnn.is_file():
        labelled = ObjectLabeller(cnn, gru).label_clip(STREAM, frames, tracked)
        figures["demo_object_sequence_accuracy"] = round(motion_accuracy([(truths, labelled)]).accuracy, 2)
    return figures

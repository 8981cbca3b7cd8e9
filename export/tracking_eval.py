"""Tracking MOTA and IDF1 the way py-motmetrics computes them, on tracks from the daemon's own code.

Each held-out clip goes frame by frame through the detector (ONNX Runtime, the daemon's
preprocess and decode with the daemon's default confidence, NMS IoU and cap), then through
:class:`streamer.tracks.TrackStage` with the reference detector's ``[tracking]`` table
(``REFERENCE_TRACKING``, as in ``examples/objects.toml``; the daemon's defaults are scored too),
fed real frame times at the clip rate, one stream per clip. Only confirmed tracks (``track_id``
set) are hypotheses.

Matching is motmetrics' own: distance ``1 - IoU`` between ground-truth and hypothesis boxes,
pairs at IoU below 0.5 never match. Objects under ``MIN_VISIBILITY`` seen are *don't care*, as
MOTChallenge treats distractors: they are no ground truth (a miss on one costs nothing), and a
hypothesis that a one-to-one Hungarian assignment at IoU >= 0.5 pairs with a don't-care object
rather than a counted one is dropped from that frame (tracking a mostly hidden object is no false
alarm). The clips are scored together: MOTA and IDF1 over all frames of all clips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import motmetrics as mm
import numpy as np
from scipy.optimize import linear_sum_assignment

from export.detection_eval import RunFn, detect
from export.detector_figures import heldout_scene, onnx_runner
from export.detector_onnx import DETECTOR_ONNX
from export.object_data import MIN_VISIBILITY
from export.objects_demo import FPS
from export.onnx_io import read_spec
from export.scenes_objects import ObjectScene, ObjectTruth
from export.train_detector import DetectorTrainConfig, detector_config
from streamer.config import TrackingConfig
from streamer.model_config import ModelConfig
from streamer.modelspec import ModelSpec
from streamer.postprocess import DetectorParams
from streamer.records import Detection, FrameInfo, ModelOutput
from streamer.tracks import Tracked, TrackStage, track_params

MATCH_IOU = 0.5  # motmetrics max distance 1 - 0.5: the MOTChallenge criterion
CLIP_IDS = 1_000_000  # id offset per clip: far above the ids of one clip
MODEL = "detector"  # the detector's name in the evaluation's one-model pipeline

TrackFn = Callable[[FrameInfo, Sequence[ModelOutput]], Tracked]

# The [tracking] table the reference detector is scored and demonstrated with (examples/objects.toml),
# chosen by ``streamer-export tune-tracking`` on validation clips that no figure uses: it seldom
# fires on a single frame, so a track takes its id on its first frame. The daemon's defaults follow
# ByteTrack's (an id on the second frame), for detectors in general.
REFERENCE_TRACKING = TrackingConfig(confirm_hits=1)


@dataclass(frozen=True)
class ClipDetections:
    """One held-out clip: per frame, the decoded detections (no ids yet) and the ground truth."""

    detections: tuple[tuple[Detection, ...], ...]
    truths: tuple[tuple[ObjectTruth, ...], ...]
    size: tuple[int, int]  # camera width, height


@dataclass(frozen=True)
class MotFigures:
    """py-motmetrics' MOTA and IDF1 over all clips, and what they were computed on."""

    mota: float
    idf1: float
    frames: int
    objects: int  # ground-truth boxes counted (don't-care ones excluded)
    misses: int
    false_positives: int
    switches: int


def daemon_params() -> DetectorParams:
    """The decode thresholds a detector gets in the daemon when its config sets none."""
    cfg = ModelConfig(path=f"{MODEL}.onnx")
    return DetectorParams(cfg.confidence, cfg.iou, cfg.max_detections)


def new_tracker(tracking: TrackingConfig = REFERENCE_TRACKING) -> TrackFn:
    """A fresh tracking stage with the ``tracking`` table (the reference detector's by default)."""
    return TrackStage([MODEL], track_params(tracking))


def detected_clips(
    run: RunFn,
    spec: ModelSpec,
    cfg: DetectorTrainConfig,
    clips: Iterable[int] | None = None,
    scene_of: Callable[[DetectorTrainConfig, int], ObjectScene] = heldout_scene,
) -> Iterator[tuple[ClipDetections, list[np.ndarray]]]:
    """Each held-out clip of ``clips`` (all of them when None) with its detections, and its
    rendered frames, one clip at a time; ``scene_of`` renders clip ``i`` (another split's for tuning)."""
    if spec.input is None:
        raise ValueError("detector without an input spec")
    for i in range(cfg.heldout_clips) if clips is None else clips:
        scene = scene_of(cfg, i)
        frames = list(scene.frames())
        images = [f.image for f in frames]
        dets = detect(run, images, spec.input, spec.labels, params=daemon_params())
        yield ClipDetections(tuple(dets), tuple(f.objects for f in frames), (scene.width, scene.height)), images


def heldout_detections(
    run: RunFn,
    spec: ModelSpec,
    cfg: DetectorTrainConfig,
    clips: Iterable[int] | None = None,
    scene_of: Callable[[DetectorTrainConfig, int], ObjectScene] = heldout_scene,
) -> list[ClipDetections]:
    """Detections of every frame of the held-out ``clips`` (all of them when None)."""
    return [clip for clip, _ in detected_clips(run, spec, cfg, clips, scene_of)]


def track(clip: ClipDetections, stage: TrackFn, stream: str, fps: float = FPS) -> list[tuple[Detection, ...]]:
    """The clip's detections with the track ids ``stage`` gives them, frame times ``seq / fps``."""
    width, height = clip.size
    tracked: list[tuple[Detection, ...]] = []
    for seq, dets in enumerate(clip.detections):
        t = seq / fps
        info = FrameInfo(stream, seq, 0, t, t, width, height)
        (output,) = stage(info, [ModelOutput(MODEL, "detector", detections=dets)]).outputs
        tracked.append(output.detections)
    return tracked


def _xywh(boxes: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    a = np.array(boxes, np.float64).reshape(len(boxes), 4)
    return np.concatenate([a[:, :2], a[:, 2:] - a[:, :2]], axis=1)


def iou_distances(objs: np.ndarray, hyps: np.ndarray) -> np.ndarray:
    """``1 - IoU`` of ``x, y, w, h`` boxes ``[N, K]``, NaN (never pair) past ``1 - MATCH_IOU``.

    The rule of motmetrics' ``iou_matrix``, on its ``boxiou``; not ``iou_matrix`` itself, because in
    motmetrics 1.4.0 it calls ``np.asfarray``, which NumPy 2 removed.
    """
    if len(objs) == 0 or len(hyps) == 0:
        return np.empty((len(objs), len(hyps)))
    dist: np.ndarray = 1 - mm.distances.boxiou(objs[:, None], hyps[None, :])
    return np.where(dist > 1 - MATCH_IOU, np.nan, dist)


def _not_dont_care(hyps: np.ndarray, cared: np.ndarray, dont_care: np.ndarray) -> np.ndarray:
    """Mask of the hypotheses kept: those not assigned (IoU >= 0.5) to a don't-care object."""
    keep = np.ones(len(hyps), bool)
    if len(dont_care) == 0 or len(hyps) == 0:
        return keep
    truth = np.concatenate([cared, dont_care])
    dist = np.nan_to_num(iou_distances(truth, hyps), nan=2.0)
    rows, cols = linear_sum_assignment(dist)
    for r, c in zip(rows, cols, strict=True):
        if dist[r, c] <= 1 - MATCH_IOU and r >= len(cared):
            keep[c] = False
    return keep


def accumulate(
    clips: Sequence[tuple[Sequence[Sequence[ObjectTruth]], Sequence[Sequence[Detection]]]],
) -> mm.MOTAccumulator:
    """One motmetrics accumulator of all ``(truths, tracked)`` clips, frame by frame.

    Counted objects against confirmed tracks; ids are offset by ``CLIP_IDS`` per clip so that no
    object or track of one clip is taken for one of another (motmetrics wants numeric ids).
    """
    acc = mm.MOTAccumulator(auto_id=True)
    for i, (truths, tracked) in enumerate(clips):
        if len(truths) != len(tracked):
            raise ValueError("one list of tracked detections per frame of ground truth")
        for gts, dets in zip(truths, tracked, strict=True):
            cared = [g for g in gts if g.visibility >= MIN_VISIBILITY]
            hidden = [g for g in gts if g.visibility < MIN_VISIBILITY]
            confirmed = [(d.box, d.track_id) for d in dets if d.track_id is not None]
            hyps, objs = _xywh([box for box, _ in confirmed]), _xywh([g.box for g in cared])
            keep = _not_dont_care(hyps, objs, _xywh([g.box for g in hidden]))
            hyp_ids = [i * CLIP_IDS + tid for (_, tid), k in zip(confirmed, keep, strict=True) if k]
            acc.update([i * CLIP_IDS + g.id for g in cared], hyp_ids, iou_distances(objs, hyps[keep]))
    return acc


def mot_figures(acc: mm.MOTAccumulator) -> MotFigures:
    """MOTA, IDF1 and the counts behind them, computed by motmetrics."""
    metrics = ["mota", "idf1", "num_frames", "num_objects", "num_misses", "num_false_positives", "num_switches"]
    row = mm.metrics.create().compute(acc, metrics=metrics, name="heldout").iloc[0]
    return MotFigures(
        mota=float(row["mota"]),
        idf1=float(row["idf1"]),
        frames=int(row["num_frames"]),
        objects=int(row["num_objects"]),
        misses=int(row["num_misses"]),
        false_positives=int(row["num_false_positives"]),
        switches=int(row["num_switches"]),
    )


def evaluate_tracking(clips: Sequence[ClipDetections], new_stage: Callable[[], TrackFn] = new_tracker) -> MotFigures:
    """Track every clip with a fresh stage from ``new_stage`` (one stream each) and score the confirmed tracks."""
    tracked = [(clip.truths, track(clip, new_stage(), f"heldout{i}")) for i, clip in enumerate(clips)]
    return mot_figures(accumulate(tracked))


def tracking_figures(run: RunFn, spec: ModelSpec, cfg: DetectorTrainConfig) -> dict[str, object]:
    """``tracking_mota``, ``tracking_idf1`` and how they were made, for ``streamer-export evaluate``."""
    clips = heldout_detections(run, spec, cfg)
    m = evaluate_tracking(clips)
    defaults = evaluate_tracking(clips, lambda: new_tracker(TrackingConfig()))
    params = daemon_params()
    return {
        "tracking_mota": round(m.mota, 4),
        "tracking_idf1": round(m.idf1, 4),
        "tracking_mota_daemon_defaults": round(defaults.mota, 4),
        "tracking_idf1_daemon_defaults": round(defaults.idf1, 4),
        "tracking_heldout": {
            "tracking": REFERENCE_TRACKING.model_dump(exclude_defaults=True),
            "clips": cfg.heldout_clips,
            "frames": m.frames,
            "objects": m.objects,
            "misses": m.misses,
            "false_positives": m.false_positives,
            "id_switches": m.switches,
            "fps": FPS,
            "confidence": params.confidence,
            "nms_iou": params.iou,
            "match_iou": MATCH_IOU,
            "tool": f"py-motmetrics {mm.__version__}",
        },
    }


def detector_tracking_figures(model_dir: Path) -> dict[str, object]:
    """The tracking figures of ``model_dir/detector.onnx`` (empty when there is none)."""
    fp32 = model_dir / DETECTOR_ONNX
    if not fp32.is_file():
        return {}
    cfg = detector_config(model_dir)
    return tracking_figures(onnx_runner(fp32), read_spec(fp32), cfg)

"""Choose the reference detector's ``[tracking]`` table on validation clips, not on the scored ones.

Validation clips come from a split of their own (``SPLIT_OBJECTS_VALIDATION``), made like the
held-out clips (every crowd size from empty to full); the detector runs once, then each candidate
table tracks every clip with the daemon's own stage and py-motmetrics scores it. The candidates vary
what depends on a detector's scores: where the first matching stage starts (``high_score``), where
a track may start (``new_track_score``) and how many frames confirm it (``confirm_hits``). The best
MOTA (then IDF1) wins; ``REFERENCE_TRACKING`` in :mod:`export.tracking_eval` records the choice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from export.datasets import SPLIT_OBJECTS_VALIDATION
from export.detector_figures import HELDOUT_SEED_BASE, onnx_runner
from export.detector_onnx import DETECTOR_ONNX
from export.onnx_io import read_spec
from export.scenes_objects import MAX_OBJECTS, ObjectScene
from export.tracking_eval import MotFigures, evaluate_tracking, heldout_detections, new_tracker
from export.train_detector import DetectorTrainConfig, detector_config
from streamer.config import TrackingConfig

HIGH_SCORES = (0.3, 0.4, 0.5)
NEW_TRACK_STEPS = (0.0, 0.1)  # new_track_score = high_score + this
CONFIRM_HITS = (1, 2)


@dataclass(frozen=True)
class Candidate:
    tracking: TrackingConfig
    figures: MotFigures


def validation_scene(cfg: DetectorTrainConfig, i: int) -> ObjectScene:
    """Validation clip ``i``: like held-out clip ``i``, from the validation split's seeds."""
    seed = [cfg.seed, SPLIT_OBJECTS_VALIDATION, HELDOUT_SEED_BASE + i]
    return ObjectScene(seed, cfg.heldout_length, initial=i % (MAX_OBJECTS + 1))


def candidates() -> list[TrackingConfig]:
    return [
        TrackingConfig(high_score=high, new_track_score=round(high + step, 2), confirm_hits=hits)
        for high, step, hits in itertools.product(HIGH_SCORES, NEW_TRACK_STEPS, CONFIRM_HITS)
    ]


def tune_tracking(model_dir: Path) -> list[Candidate]:
    """Every candidate scored on the validation clips, best first."""
    detector = model_dir / DETECTOR_ONNX
    cfg = detector_config(model_dir)
    clips = heldout_detections(onnx_runner(detector), read_spec(detector), cfg, scene_of=validation_scene)
    scored = [Candidate(t, evaluate_tracking(clips, partial(new_tracker, t))) for t in candidates()]
    return sorted(scored, key=lambda c: (c.figures.mota, c.figures.idf1), reverse=True)


def format_candidates(scored: list[Candidate]) -> str:
    lines = ["high_score new_track_score confirm_hits    MOTA    IDF1  misses  false+  switches"]
    for c in scored:
        t, f = c.tracking, c.figures
        lines.append(
            f"{t.high_score:>10} {t.new_track_score:>15} {t.confirm_hits:>12}  {f.mota:.4f}  {f.idf1:.4f}"
            f"  {f.misses:>6}  {f.false_positives:>6}  {f.switches:>8}"
        )
    return "\n".join(lines)

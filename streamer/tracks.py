"""The tracking stage: one :class:`~streamer.track.Tracker` per stream and detector, ids onto detections.

Runs after the detections of a frame are decoded and before the per-object sequence step. It
keeps no clock of its own: a frame's time on its stream's timeline (``FrameInfo.t_stream``) drives
the trackers' motion model and lost buffers, and its epoch ends every track of the stream on a reconnect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from streamer.config import TrackingConfig
from streamer.records import FrameInfo, ModelOutput
from streamer.track import Tracker, TrackParams


@dataclass(frozen=True)
class TrackChange:
    """What one frame did to the tracks of one detector on one stream."""

    stream: str
    model: str
    started: tuple[int, ...]
    ended: tuple[int, ...]


@dataclass(frozen=True)
class Tracked:
    """A frame's model outputs with track ids on the detections, and the changes to its tracks."""

    outputs: tuple[ModelOutput, ...]
    changes: tuple[TrackChange, ...]
    alive: int  # confirmed tracks of the frame's stream, all detectors together


def track_params(cfg: TrackingConfig) -> TrackParams:
    return TrackParams(**cfg.model_dump(exclude={"enabled"}))


class TrackStage:
    """Trackers of every stream for the given detectors; used by the inference thread alone."""

    def __init__(self, detectors: Sequence[str], params: TrackParams) -> None:
        self.detectors = frozenset(detectors)
        self.params = params
        self._trackers: dict[str, dict[str, Tracker]] = {}  # stream -> detector -> tracker

    def __call__(self, info: FrameInfo, outputs: Sequence[ModelOutput]) -> Tracked:
        """Give the detections of one frame their track ids."""
        out: list[ModelOutput] = []
        changes: list[TrackChange] = []
        trackers = self._trackers.setdefault(info.stream, {})
        for o in outputs:
            if o.model not in self.detectors:
                out.append(o)
                continue
            tracker = trackers.get(o.model)
            if tracker is None:
                tracker = trackers[o.model] = Tracker(self.params)
            n = len(o.detections)
            boxes = np.array([d.box for d in o.detections], np.float64).reshape(n, 4)
            scores = np.array([d.score for d in o.detections], np.float64)
            update = tracker.update(boxes, scores, info.t_stream, info.epoch)
            dets = tuple(replace(d, track_id=i) for d, i in zip(o.detections, update.ids, strict=True))
            out.append(replace(o, detections=dets))
            if update.started or update.ended:
                changes.append(TrackChange(info.stream, o.model, update.started, update.ended))
        return Tracked(tuple(out), tuple(changes), self.alive(info.stream))

    def alive(self, stream: str) -> int:
        return sum(t.alive for t in self._trackers.get(stream, {}).values())

    def forget(self, stream: str) -> tuple[TrackChange, ...]:
        """End every track of a removed stream."""
        trackers = self._trackers.pop(stream, {})
        return tuple(TrackChange(stream, model, (), ended) for model, t in trackers.items() if (ended := t.end_all()))

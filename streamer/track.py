"""A per-stream multi-object tracker in the manner of ByteTrack: stable ids for detections.

Each frame: every track's box is predicted by a constant-velocity Kalman filter
(:mod:`streamer.kalman`); high-score detections are matched first against tracked and lost tracks,
then low-score detections (often the same objects, partly hidden) against the tracked ones still
unmatched; finally the remaining high-score detections may confirm tentative tracks or start new
ones. Each matching stage is a Hungarian assignment on ``1 - IoU``
(``scipy.optimize.linear_sum_assignment``), gated by a minimum IoU.

A track is *tentative* until matched on ``confirm_hits`` frames; only then does it get an id, so
one-frame false positives burn none. A tracked object that goes unmatched is *lost*: it keeps
being predicted for ``lost_buffer_s`` seconds and keeps its id if it is matched again (a miss, an
occlusion, a short exit), then it ends. Ids count up from 1 per tracker and are never reused; a
new epoch of the stream (a reconnect, a file loop) ends every track.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from streamer import kalman
from streamer.kalman import F64, Boxes

Indices = npt.NDArray[np.intp]


class TrackState(IntEnum):
    """Where a track is in its life."""

    TENTATIVE = 0  # seen, not yet confirmed: no id published
    TRACKED = 1  # matched on the latest frame
    LOST = 2  # unmatched lately, still predicted and matchable


# Plain ints for the hot path (an enum member lookup costs more than the arithmetic around it).
_TENTATIVE, _TRACKED, _LOST = int(TrackState.TENTATIVE), int(TrackState.TRACKED), int(TrackState.LOST)


@dataclass(frozen=True)
class TrackParams:
    """Thresholds and buffers of the association (the ``[tracking]`` config table)."""

    high_score: float = 0.5  # detections at or above take part in the first stage
    low_score: float = 0.1  # below this a detection is ignored by the tracker
    new_track_score: float = 0.6  # an unmatched detection at or above starts a track
    match_iou: float = 0.2  # first stage: high-score detections vs tracked and lost tracks
    low_match_iou: float = 0.5  # second stage: low-score detections vs tracked tracks
    tentative_match_iou: float = 0.3  # tentative tracks vs the remaining high-score detections
    confirm_hits: int = 2  # frames a tentative track must be matched on to be confirmed
    lost_buffer_s: float = 1.0  # how long a lost track stays matchable before it ends


@dataclass(frozen=True)
class TrackUpdate:
    """One frame's answer: the id of each detection (input order; None = untracked) and the changes."""

    ids: tuple[int | None, ...]
    started: tuple[int, ...]  # confirmed on this frame
    ended: tuple[int, ...]  # confirmed tracks that ended on this frame


_NONE: Indices = np.zeros(0, np.intp)


def _nz(mask: npt.NDArray[np.bool_]) -> Indices:
    return mask.nonzero()[0]


def iou(a: F64, b: F64) -> F64:
    """Pairwise IoU of corner boxes ``a[N, 4]`` and ``b[M, 4]`` -> ``[N, M]``."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: F64 = inter / np.maximum(union, 1e-9)
    return out


def match(tracks: F64, dets: F64, min_iou: float) -> tuple[Indices, Indices]:
    """Hungarian assignment of tracks to detections maximising IoU; pairs under ``min_iou`` are refused."""
    if tracks.shape[0] == 0 or dets.shape[0] == 0:
        return _NONE, _NONE
    overlap = iou(tracks, dets)
    from scipy.optimize import linear_sum_assignment  # loaded with the first tracker, not with the daemon

    rows, cols = linear_sum_assignment(overlap, maximize=True)
    keep = overlap[rows, cols] >= min_iou
    return rows[keep].astype(np.intp), cols[keep].astype(np.intp)


class Tracker:
    """The tracks of one stream (one detector model); owned by one thread, no locking."""

    def __init__(self, params: TrackParams | None = None) -> None:
        self.params = params or TrackParams()
        self.boxes = Boxes.empty()
        self.ids = np.zeros(0, np.int64)  # 0 until confirmed
        self.state = np.zeros(0, np.int8)
        self.hits = np.zeros(0, np.int32)
        self.last_seen = np.zeros(0, np.float64)
        self.epoch: int | None = None
        self.t: float | None = None
        self._next_id = 1

    @property
    def alive(self) -> int:
        """Confirmed tracks (tracked or lost)."""
        return int(np.count_nonzero(self.ids))

    def live_ids(self) -> tuple[int, ...]:
        return tuple(int(i) for i in self.ids[self.ids > 0])

    def end_all(self) -> tuple[int, ...]:
        """End every track (the stream reconnected, looped or went away); returns the confirmed ids."""
        ended = self.live_ids()
        self._keep(np.zeros(len(self.ids), np.bool_))
        self.t = None
        return ended

    def update(self, xyxy: F64, scores: npt.NDArray[np.floating], t: float, epoch: int = 0) -> TrackUpdate:
        """Associate one frame's detections (corners ``[N, 4]``, scores ``[N]``) at time ``t`` seconds."""
        ended: tuple[int, ...] = ()
        if self.epoch is not None and epoch != self.epoch:
            ended = self.end_all()
        self.epoch = epoch
        p = self.params
        dt = 0.0 if self.t is None else max(0.0, t - self.t)
        self.t = t
        kalman.predict(self.boxes, dt)
        n = xyxy.shape[0]
        dets = np.asarray(xyxy, np.float64).reshape(n, 4)
        sc = np.asarray(scores, np.float64).reshape(n)
        finite = np.isfinite(dets).all(axis=1) & np.isfinite(sc)
        if not finite.all():  # a broken model's NaN or inf: such a detection gets no track
            dets = np.where(finite[:, None], dets, 0.0)
            sc = np.where(finite, sc, -1.0)
        assigned, unmatched, high_left = self._associate(dets, sc)

        rows = _nz(assigned >= 0)
        matched = assigned[rows]
        kalman.update(self.boxes, matched, dets[rows])
        self.hits[matched] += 1
        self.last_seen[matched] = t
        self.state[matched] = np.where(self.hits[matched] >= p.confirm_hits, _TRACKED, _TENTATIVE)
        newly = matched[(self.ids[matched] == 0) & (self.state[matched] == _TRACKED)]
        started = self._confirm(newly)

        tentative = self.state == _TENTATIVE
        self.state[unmatched & ~tentative] = _LOST
        expired = unmatched & (tentative | (t - self.last_seen > p.lost_buffer_s))
        ended += tuple(int(i) for i in self.ids[expired & (self.ids > 0)])
        self._keep(~expired)
        assigned = self._renumber(assigned, ~expired)

        births = high_left[sc[high_left] >= p.new_track_score]
        if births.size:
            assigned[births] = len(self.ids) + np.arange(births.size)
            started += self._birth(dets[births], t)
        ids = np.where(assigned >= 0, self.ids[np.maximum(assigned, 0)] if len(self.ids) else 0, 0)
        out = tuple(int(i) if i > 0 else None for i in ids.tolist())
        return TrackUpdate(out, started, ended)

    def _associate(self, dets: F64, sc: F64) -> tuple[Indices, npt.NDArray[np.bool_], Indices]:
        """The three matching stages: each detection's track row (-1: none), the tracks left unmatched,
        and the high-score detections left over."""
        p = self.params
        assigned = np.full(len(sc), -1, np.intp)  # detection -> track row
        unmatched = np.ones(len(self.ids), np.bool_)
        high = _nz(sc >= p.high_score)
        low = _nz((sc >= p.low_score) & (sc < p.high_score))
        predicted = self.boxes.xyxy()
        # Stage 1: confirmed tracks (tracked or lost) take the high-score detections.
        pool = _nz(self.state != _TENTATIVE)
        r, c = match(predicted[pool], dets[high], p.match_iou)
        assigned[high[c]] = pool[r]
        unmatched[pool[r]] = False
        high_left = high[assigned[high] < 0]
        # Stage 2: tracks still unmatched that were tracked a frame ago take the low-score ones.
        if low.size:
            pool = _nz(unmatched & (self.state == _TRACKED))
            r, c = match(predicted[pool], dets[low], p.low_match_iou)
            assigned[low[c]] = pool[r]
            unmatched[pool[r]] = False
        # Stage 3: tentative tracks take what is left of the high-score detections.
        if high_left.size:
            pool = _nz(self.state == _TENTATIVE)
            r, c = match(predicted[pool], dets[high_left], p.tentative_match_iou)
            assigned[high_left[c]] = pool[r]
            unmatched[pool[r]] = False
            high_left = high_left[assigned[high_left] < 0]
        return assigned, unmatched, high_left

    def _confirm(self, rows: Indices) -> tuple[int, ...]:
        new = np.arange(self._next_id, self._next_id + rows.size, dtype=np.int64)
        self._next_id += rows.size
        self.ids[rows] = new
        return tuple(int(i) for i in new)

    def _birth(self, xyxy: F64, t: float) -> tuple[int, ...]:
        m = xyxy.shape[0]
        self.boxes = self.boxes.extend(kalman.initiate(xyxy))
        self.ids = np.concatenate([self.ids, np.zeros(m, np.int64)])
        self.state = np.concatenate([self.state, np.full(m, _TENTATIVE, np.int8)])
        self.hits = np.concatenate([self.hits, np.ones(m, np.int32)])
        self.last_seen = np.concatenate([self.last_seen, np.full(m, t)])
        rows = np.arange(len(self.ids) - m, len(self.ids))
        if self.params.confirm_hits <= 1:
            self.state[rows] = _TRACKED
            return self._confirm(rows)
        return ()

    def _keep(self, mask: npt.NDArray[np.bool_]) -> None:
        if mask.all():
            return
        self.boxes = self.boxes.take(mask)
        self.ids, self.state = self.ids[mask], self.state[mask]
        self.hits, self.last_seen = self.hits[mask], self.last_seen[mask]

    @staticmethod
    def _renumber(assigned: Indices, kept: npt.NDArray[np.bool_]) -> Indices:
        """Track rows after dropping the rows not ``kept`` (matched rows are always kept)."""
        if kept.all():
            return assigned
        new_row = np.cumsum(kept) - 1
        out: Indices = np.where(assigned >= 0, new_row[np.maximum(assigned, 0)], -1).astype(np.intp)
        return out

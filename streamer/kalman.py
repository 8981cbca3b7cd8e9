"""A constant-velocity Kalman filter over many boxes at once: ``[cx, cy, w, h]`` and their velocities.

Each measured component (centre x, centre y, width, height) moves with its own velocity, and
the motion, process noise and measurement noise never couple two components, so the 8x8
covariance of a box is four independent 2x2 blocks (position, velocity). The filter keeps just
those blocks: every box of a stream is filtered together as ``[T, 4]`` arrays, a frame costing a
handful of elementwise numpy calls whatever the number of objects, with no matrix inverse.

Time is in seconds (velocities in pixels per second): a live stream that drops frames predicts
over the real gap instead of pretending every processed frame is one step. Noise scales with the
box size, so a near object (large, fast in pixels) and a far one are modelled alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# Rows of a box's state ``[5, 4]``: one column per component cx, cy, w, h.
POS, VEL, P_PP, P_PV, P_VV = range(5)
# Standard deviations relative to the box size. A measurement is good to about 1/20 of the box;
# position wanders about 1/4 of the box and velocity about 0.8 box/s per square-root second
# (about ByteTrack's 1/20 and 1/160 of the height per frame, at 25 frames/s); an unknown
# velocity starts at about 1.5 boxes/s.
MEASURE_STD = 0.05
POSITION_STD = 0.25
VELOCITY_STD = 0.8
INITIAL_VELOCITY_STD = 1.5


@dataclass
class Boxes:
    """Filter state of ``T`` boxes: ``state[T, 5, 4]`` (position, velocity, covariance blocks)."""

    state: F64

    @classmethod
    def empty(cls) -> Boxes:
        return cls(np.zeros((0, 5, 4)))

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Boxes:
        """The boxes at ``index`` (indices or a mask), as a new state."""
        return Boxes(self.state[index])

    def extend(self, other: Boxes) -> Boxes:
        return Boxes(np.concatenate([self.state, other.state]))

    def xyxy(self) -> F64:
        """The boxes' current estimates as ``[T, 4]`` corners."""
        pos = self.state[:, POS]
        c, half = pos[:, :2], pos[:, 2:] / 2
        return np.concatenate([c - half, c + half], axis=1)

    def velocity(self) -> F64:
        """``[T, 4]`` pixels per second of cx, cy, w, h."""
        out: F64 = self.state[:, VEL].copy()
        return out


def _scale(pos: F64) -> F64:
    """Per-box scale of each component ``[T, 4]``: the width for x and w, the height for y and h."""
    return np.maximum(pos[:, (2, 3, 2, 3)], 1.0)


def to_cxcywh(xyxy: F64) -> F64:
    wh = np.maximum(xyxy[:, 2:] - xyxy[:, :2], 1e-3)
    return np.concatenate([xyxy[:, :2] + wh / 2, wh], axis=1)


def initiate(xyxy: F64) -> Boxes:
    """New boxes from first detections: at the measurement, velocity zero but uncertain."""
    z = to_cxcywh(np.asarray(xyxy, np.float64))
    s = _scale(z)
    state = np.zeros((z.shape[0], 5, 4))
    state[:, POS] = z
    state[:, P_PP] = (2 * MEASURE_STD * s) ** 2
    state[:, P_VV] = (INITIAL_VELOCITY_STD * s) ** 2
    return Boxes(state)


def predict(boxes: Boxes, dt: float) -> None:
    """Advance every box ``dt`` seconds in place (constant velocity, size-scaled process noise)."""
    if len(boxes) == 0 or dt <= 0:
        return
    st = boxes.state
    st[:, POS] += dt * st[:, VEL]
    # A shrinking box coasting unseen (a lost track) must not turn inside out.
    np.maximum(st[:, POS, 2:], 1.0, out=st[:, POS, 2:])
    s2 = _scale(st[:, POS]) ** 2
    pv, vv = st[:, P_PV], st[:, P_VV]
    st[:, P_PP] += dt * (2 * pv + dt * vv + POSITION_STD**2 * s2)
    st[:, P_PV] += dt * vv
    st[:, P_VV] += dt * VELOCITY_STD**2 * s2


def update(boxes: Boxes, index: npt.NDArray[np.intp], xyxy: F64) -> None:
    """Correct the boxes at ``index`` in place with their measured corners ``xyxy[len(index), 4]``."""
    if index.size == 0:
        return
    st = boxes.state[index]
    z = to_cxcywh(np.asarray(xyxy, np.float64))
    pp, pv = st[:, P_PP], st[:, P_PV]
    s = pp + (MEASURE_STD * _scale(st[:, POS])) ** 2
    k_p, k_v = pp / s, pv / s
    innovation = z - st[:, POS]
    st[:, POS] += k_p * innovation
    st[:, VEL] += k_v * innovation
    st[:, P_VV] -= k_v * pv
    st[:, P_PV] *= 1 - k_p
    st[:, P_PP] *= 1 - k_p
    boxes.state[index] = st

"""Paths of the objects of a multi-object scene: each enters, moves in one motion pattern, and leaves.

Unlike :mod:`export.scene_motion` (one main object kept inside the frame), an object here may start
outside the frame and walk in, walk out across an edge, or appear and vanish where it stands. A path
is the centre per frame over the object's life; frames outside the life have no object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.scene_motion import MAX_SPEED, MIN_SPEED, MOTIONS, _jitter

OBJECT_MOTIONS: tuple[str, ...] = MOTIONS[1:]  # every motion but "none"
_AXES = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}
MIN_LIFE = 12  # frames: shorter appearances are flicker, not objects


@dataclass(frozen=True)
class ObjectPath:
    """An object's centre ``xy [L, 2]`` (pixels) for frames ``birth .. birth + L - 1``."""

    motion: str
    birth: int
    xy: np.ndarray

    @property
    def death(self) -> int:
        """The first frame after the object's life."""
        return self.birth + len(self.xy)


def _life(rng: np.random.Generator, birth: int, total: int) -> int:
    """A random life length that fits the clip (at least MIN_LIFE frames, or what is left)."""
    left = total - birth
    if left <= MIN_LIFE:
        return left
    return int(rng.integers(MIN_LIFE, left + 1)) if rng.random() < 0.35 else left


def _along(  # noqa: PLR0913  (one axis of a motion: all of these describe it)
    rng: np.random.Generator, v: float, extent: float, radius: float, *, sign: int, enter: bool, length: int
) -> np.ndarray:
    """Positions along the motion axis: from just outside an edge (``enter``) or from inside."""
    start = (-radius if sign > 0 else extent + radius) if enter else float(rng.uniform(radius, extent - radius))
    return start + sign * v * np.arange(length)


def _leave_at(along: np.ndarray, extent: float, radius: float, sign: int) -> int:
    """Frames until the object has fully left across the edge it moves towards (len when never)."""
    gone = along > extent + radius if sign > 0 else along < -radius
    hits = np.flatnonzero(gone)
    return int(hits[0]) if hits.size else len(along)


def plan_object(  # noqa: PLR0913  (an object's whole path is named by these)
    rng: np.random.Generator,
    motion: str,
    radius: float,
    *,
    birth: int,
    total: int,
    size: tuple[int, int],
    enter: bool,
) -> ObjectPath:
    """One object's path from ``birth``; moving objects entering at an edge when ``enter``."""
    width, height = size
    length = _life(rng, birth, total)
    if motion == "still":
        x = float(rng.uniform(radius * 0.5, width - radius * 0.5))
        y = float(rng.uniform(radius * 0.5, height - radius * 0.5))
        return ObjectPath(motion, birth, np.array([x, y]) + _jitter(rng, length, 0.5))
    if motion in _AXES:
        axis, sign = _AXES[motion]
        extent = float(size[axis])
        speed = float(rng.uniform(MIN_SPEED, MAX_SPEED))
        along = _along(rng, speed, extent, radius, sign=sign, enter=enter, length=length)
        across = float(rng.uniform(radius * 0.6, size[1 - axis] - radius * 0.6))
        xy = np.zeros((length, 2))
        xy[:, axis] = along
        xy[:, 1 - axis] = across
        xy = xy[: max(1, _leave_at(along, extent, radius, sign))]
        return ObjectPath(motion, birth, xy + _jitter(rng, len(xy), 0.25))
    if motion == "zigzag":
        sign = 1 if rng.random() < 0.5 else -1
        amp, period = float(rng.uniform(10, 16)), float(rng.uniform(12, 20))
        along = _along(rng, float(rng.uniform(0.8, 2.2)), float(width), radius, sign=sign, enter=enter, length=length)
        y0 = float(rng.uniform(radius * 0.6 + amp, height - radius * 0.6 - amp))
        t = np.arange(length)
        tri = 2 * np.abs(2 * ((t / period + float(rng.uniform(0, 1))) % 1.0) - 1) - 1
        xy = np.stack([along, y0 + amp * tri], axis=1)[: max(1, _leave_at(along, float(width), radius, sign))]
        return ObjectPath(motion, birth, xy + _jitter(rng, len(xy), 0.25))
    raise ValueError(f"unknown motion {motion!r}")

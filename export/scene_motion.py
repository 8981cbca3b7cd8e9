"""Motion patterns of the main object: per-frame centre tracks that stay inside the camera frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOTIONS: tuple[str, ...] = ("none", "still", "left", "right", "up", "down", "zigzag")
# Pixels per frame at camera size (320 x 240). The slowest move still covers ~20 px in 16 frames,
# ten times the jitter of a "still" object, so 16 frames are enough to tell them apart.
MIN_SPEED = 1.2
MAX_SPEED = 3.5
MIN_RADIUS = 24.0
_DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}


@dataclass(frozen=True)
class Track:
    """The main object's centre per frame (pixels, ``[L, 2]`` as x, y) and its radius."""

    xy: np.ndarray
    radius: float


def _jitter(rng: np.random.Generator, length: int, sigma: float) -> np.ndarray:
    """Mean-reverting hand-held-ish jitter, about ``sigma / 0.7`` pixels standard deviation."""
    out = np.zeros((length, 2))
    j = np.zeros(2)
    for t in range(length):
        j = 0.7 * j + rng.normal(0, sigma, size=2)
        out[t] = j
    return out


def _pick(rng: np.random.Generator, lo: float, hi: float, want: float | None) -> float:
    if want is not None and lo <= want <= hi:
        return want
    return float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2


def plan_segment(
    rng: np.random.Generator,
    motion: str,
    length: int,
    radius: float,
    *,
    size: tuple[int, int],
    start: tuple[float, float] | None,
) -> Track:
    """The centre track of one segment; continues from ``start`` when the motion fits from there."""
    width, height = size
    extent = (float(width), float(height))
    sx, sy = start if start is not None else (None, None)
    if motion == "still":
        m = radius + 4
        x0, y0 = _pick(rng, m, width - m, sx), _pick(rng, m, height - m, sy)
        return Track(np.array([x0, y0]) + _jitter(rng, length, 0.5), radius)
    if motion in _DIRECTIONS:
        axis, sign = _DIRECTIONS[motion]
        room = extent[axis] - MIN_SPEED * (length - 1)
        radius = max(MIN_RADIUS, min(radius, room / 2 - 4))
        m = radius + 4
        span = extent[axis] - 2 * m
        v = float(rng.uniform(MIN_SPEED, max(MIN_SPEED, min(MAX_SPEED, span / max(1, length - 1)))))
        travel = min(span, v * (length - 1))
        want = (sx, sy)[axis]
        a0 = (
            _pick(rng, m + travel, extent[axis] - m, want)
            if sign < 0
            else _pick(rng, m, extent[axis] - m - travel, want)
        )
        c0 = _pick(rng, m, extent[1 - axis] - m, (sy, sx)[axis])
        steps = np.arange(length) * (travel / max(1, length - 1)) * sign
        xy = np.zeros((length, 2))
        xy[:, axis] = a0 + steps
        xy[:, 1 - axis] = c0
        return Track(xy + _jitter(rng, length, 0.25), radius)
    if motion == "zigzag":
        amp = float(rng.uniform(10, 16))
        period = float(rng.uniform(12, 20))
        room = width - 0.8 * (length - 1)
        radius = max(MIN_RADIUS, min(radius, room / 2 - 4))
        m = radius + 4
        span = width - 2 * m
        v = float(rng.uniform(0.8, max(0.8, min(2.2, span / max(1, length - 1)))))
        travel = min(span, v * (length - 1))
        sign = 1 if rng.random() < 0.5 else -1
        x0 = _pick(rng, m + travel, width - m, sx) if sign < 0 else _pick(rng, m, width - m - travel, sx)
        y0 = _pick(rng, m + amp, height - m - amp, sy)
        t = np.arange(length)
        phase = float(rng.uniform(0, 1))
        tri = 2 * np.abs(2 * ((t / period + phase) % 1.0) - 1) - 1
        xy = np.stack([x0 + sign * t * (travel / max(1, length - 1)), y0 + amp * tri], axis=1)
        return Track(xy + _jitter(rng, length, 0.25), radius)
    raise ValueError(f"unknown motion {motion!r}")

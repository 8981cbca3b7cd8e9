"""Multi-object scenes: 0-8 shapes at once, each with its own motion, entering, crossing and leaving.

The same camera as :mod:`export.scenes` (textured background, slow light changes, sensor noise,
optional JPEG artefacts, sometimes a pole in front of everything), with several objects of the four
shape classes at different sizes. Objects are drawn back to front in a fixed depth order, so they
occlude each other and pass behind the pole. Every frame comes with its ground truth: each object's
id, class, box (x1, y1, x2, y2 in camera pixels: the edges of the pixels the object covers at least
a quarter of, clipped to the frame; the whole object even where occluded), visibility (the fraction
of the object's area that is seen) and motion.

A frame is a pure function of the seed and its index, so any frame can be rendered on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from export.object_motion import OBJECT_MOTIONS, ObjectPath, plan_object
from export.scenes import (
    _NOISE_PAD,
    _SHIFT,
    CAMERA_HEIGHT,
    CAMERA_WIDTH,
    OBJECT_CLASSES,
    _background,
    _Body,
    _body,
    _colour,
    _polygon,
    _unit_noise,
)

MAX_OBJECTS = 8
OBJECT_RADIUS = (11.0, 44.0)  # camera pixels: objects from about 20 to 90 px across
SPAWN_RATE = 0.04  # chance per frame that a new object enters (while fewer than MAX_OBJECTS)
_POLE_ID = 255
COVERAGE = 64  # of 255: a pixel belongs to an object's box when the object covers a quarter of it


@dataclass(frozen=True)
class ObjectTruth:
    """One object in one frame, as the ground truth files and the metrics read it."""

    id: int
    label: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in camera pixels
    visibility: float  # 0..1: seen area / whole area (frame edges, other objects and the pole hide it)
    motion: str


@dataclass(frozen=True)
class ObjectFrame:
    """A rendered BGR ``uint8 [H, W, 3]`` frame and the objects in it (back to front)."""

    image: np.ndarray
    objects: tuple[ObjectTruth, ...]


@dataclass(frozen=True)
class _Object:
    id: int
    body: _Body
    path: ObjectPath
    depth: float


class ObjectScene:
    """One camera's clip of ``length`` frames with up to ``max_objects`` objects at a time."""

    def __init__(
        self,
        seed: int | Sequence[int],
        length: int,
        *,
        size: tuple[int, int] = (CAMERA_HEIGHT, CAMERA_WIDTH),
        max_objects: int = MAX_OBJECTS,
        initial: int | None = None,
        jpeg_prob: float = 0.0,
    ) -> None:
        """``initial`` objects at the first frame (random, 0 to ``max_objects``, when None)."""
        self.seed = [seed] if isinstance(seed, int) else list(seed)
        rng = np.random.default_rng(self.seed)
        self.length = length
        self.height, self.width = size
        self.background = _background(rng, self.height, self.width)
        avoid = self.background.reshape(-1, 3).mean(axis=0)
        self.tint_gain = float(rng.uniform(0.75, 1.15))
        self.light_amp = float(rng.uniform(0.0, 0.2))
        self.light_period = float(rng.uniform(150, 600))
        self.light_phase = float(rng.uniform(0, 2 * np.pi))
        self.noise_sigma = float(rng.uniform(2.0, 8.0))
        self.noise = _unit_noise(self.height + _NOISE_PAD, self.width + _NOISE_PAD)
        self.jpeg_quality = int(rng.integers(40, 90)) if rng.random() < jpeg_prob else None
        self.pole: tuple[tuple[int, int], tuple[int, int], tuple[float, float, float], int] | None = None
        if rng.random() < 0.4:
            thick = int(rng.integers(6, 13))
            if rng.random() < 0.5:
                x = int(rng.integers(30, self.width - 30))
                self.pole = ((x, 0), (x, self.height), _colour(rng, avoid), thick)
            else:
                y = int(rng.integers(30, self.height - 30))
                self.pole = ((0, y), (self.width, y), _colour(rng, avoid), thick)
        self.objects = self._plan(rng, avoid, max_objects, initial)

    def _spawn(self, rng: np.random.Generator, avoid: np.ndarray, oid: int, birth: int, enter: bool) -> _Object:
        body = _body(rng, str(rng.choice(OBJECT_CLASSES)), OBJECT_RADIUS, avoid)
        motion = str(rng.choice(OBJECT_MOTIONS))
        path = plan_object(
            rng, motion, body.radius, birth=birth, total=self.length, size=(self.width, self.height), enter=enter
        )
        return _Object(oid, body, path, float(rng.random()))

    def _plan(
        self, rng: np.random.Generator, avoid: np.ndarray, max_objects: int, initial: int | None
    ) -> list[_Object]:
        first = int(rng.integers(0, max_objects + 1)) if initial is None else min(initial, max_objects)
        objects = [self._spawn(rng, avoid, i + 1, 0, bool(rng.random() < 0.3)) for i in range(first)]
        for t in range(1, self.length):
            alive = sum(o.path.birth <= t < o.path.death for o in objects)
            if alive < max_objects and rng.random() < SPAWN_RATE:
                objects.append(self._spawn(rng, avoid, len(objects) + 1, t, enter=True))
        return sorted(objects, key=lambda o: o.depth)  # back to front

    def frames(self) -> Iterator[ObjectFrame]:
        """Every frame in order."""
        for t in range(self.length):
            yield self.frame(t)

    def _gain(self, t: int) -> float:
        wave = math.sin(2 * math.pi * t / self.light_period + self.light_phase)
        return self.tint_gain * (1 + self.light_amp * wave)

    def frame(self, t: int) -> ObjectFrame:
        """Frame ``t`` and its ground truth."""
        gain = self._gain(t)
        img = cv2.convertScaleAbs(self.background, alpha=gain)
        ids = np.zeros((self.height, self.width), np.uint8)  # which object each pixel shows (0: none)
        drawn: list[tuple[_Object, np.ndarray, int]] = []
        for obj in self.objects:
            i = t - obj.path.birth
            if not 0 <= i < len(obj.path.xy):
                continue
            cx, cy = (float(v) for v in obj.path.xy[i])
            pts = _polygon(obj.body, cx, cy, obj.body.angle + obj.body.spin * t)
            k = len(drawn) + 1  # at most MAX_OBJECTS at a time, so it fits a uint8 map
            colour = tuple(min(255.0, c * gain) for c in obj.body.colour)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA, _SHIFT)
            if obj.body.outline is not None:
                outline = tuple(min(255.0, c * gain) for c in obj.body.outline)
                cv2.polylines(img, [pts], True, outline, 2, cv2.LINE_AA, _SHIFT)
            cv2.fillPoly(ids, [pts], k, cv2.LINE_8, _SHIFT)
            drawn.append((obj, pts, k))
        if self.pole is not None:
            p1, p2, colour, thick = self.pole
            cv2.line(img, p1, p2, tuple(min(255.0, c * gain) for c in colour), thick, cv2.LINE_AA)
            cv2.line(ids, p1, p2, _POLE_ID, thick, cv2.LINE_8)
        return ObjectFrame(self._finish(img, t), self._truth(drawn, ids))

    def _finish(self, img: np.ndarray, t: int) -> np.ndarray:
        """Sensor noise and (for some cameras) JPEG artefacts; seeded per frame."""
        rng = np.random.default_rng([*self.seed, 7, t])
        k, dy, dx = (int(v) for v in rng.integers(0, (len(self.noise), _NOISE_PAD, _NOISE_PAD)))
        noise = self.noise[k, dy : dy + self.height, dx : dx + self.width]
        out: np.ndarray = np.clip(cv2.scaleAdd(noise, self.noise_sigma, img.astype(np.float32)), 0, 255).astype(
            np.uint8
        )
        if self.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                out = decoded
        return out

    def _pixel_box(self, obj: _Object, pts: np.ndarray) -> tuple[float, float, float, float] | None:
        """The tight box of the pixels the object covers at least a quarter of, inside the frame.

        Measured on the object drawn alone, so anti-aliased corners and outlines count exactly as
        drawn; None when it covers no pixel of the frame.
        """
        lo = np.maximum(np.floor(pts.min(axis=0) / (1 << _SHIFT)).astype(int) - 3, 0)
        hi = np.minimum(np.ceil(pts.max(axis=0) / (1 << _SHIFT)).astype(int) + 3, (self.width, self.height))
        if (hi <= lo).any():
            return None
        canvas = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), np.uint8)
        local = pts - (lo << _SHIFT).astype(np.int32)
        cv2.fillPoly(canvas, [local], 255, cv2.LINE_AA, _SHIFT)
        if obj.body.outline is not None:
            cv2.polylines(canvas, [local], True, 255, 2, cv2.LINE_AA, _SHIFT)
        ys, xs = np.nonzero(canvas >= COVERAGE)
        if xs.size == 0:
            return None
        x0, y0 = int(lo[0]), int(lo[1])
        return (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))

    def _truth(self, drawn: list[tuple[_Object, np.ndarray, int]], ids: np.ndarray) -> tuple[ObjectTruth, ...]:
        seen = np.bincount(ids.ravel(), minlength=256)
        out = []
        for obj, pts, k in drawn:
            box = self._pixel_box(obj, pts)
            if box is None or seen[k] == 0:
                continue
            area = max(1.0, float(cv2.contourArea(pts.astype(np.float32) / (1 << _SHIFT))))
            out.append(
                ObjectTruth(
                    id=obj.id,
                    label=obj.body.shape,
                    box=box,
                    visibility=round(min(1.0, float(seen[k]) / area), 3),
                    motion=obj.path.motion,
                )
            )
        return tuple(out)

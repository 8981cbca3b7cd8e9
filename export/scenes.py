"""Procedural fixed-camera scenes: seeded, deterministic clips with frame and motion labels.

A scene is a static textured background under slowly changing light, with sensor noise, an optional
static occluder (a pole), 0-2 small clutter objects and, per segment, one main object of a frame
class that moves in one of the motion patterns. Frame label = the main object's class ("empty"
when there is none); motion label = its motion ("none" when empty). Everything comes from one
``numpy.random.Generator`` seeded by the caller, so the same seed renders the same pixels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from export.scene_motion import MOTIONS, Track, plan_segment

FRAME_CLASSES: tuple[str, ...] = ("empty", "circle", "square", "triangle", "star")
OBJECT_CLASSES: tuple[str, ...] = FRAME_CLASSES[1:]
CAMERA_HEIGHT = 240
CAMERA_WIDTH = 320
MAIN_RADIUS = (30.0, 48.0)
CLUTTER_RADIUS = (6.0, 11.0)
_SHIFT = 4  # fixed-point bits for sub-pixel drawing: motion stays smooth at low speeds
_NOISE_PAD = 8


@dataclass(frozen=True)
class Segment:
    """A stretch of a stream: the main object's class, its motion and the length in frames.

    ``same_object`` keeps the previous segment's object (and position) and only changes its motion.
    """

    shape: str
    motion: str
    length: int
    same_object: bool = False


@dataclass(frozen=True)
class SceneLabels:
    """Per-frame ground truth of a rendered scene."""

    frame_labels: np.ndarray  # [T] int64, index into FRAME_CLASSES
    motion_labels: np.ndarray  # [T] int64, index into MOTIONS
    centers: np.ndarray  # [T, 2] float32 main object centre, normalised to [-1, 1]; NaN when empty
    segment_starts: np.ndarray  # [T] bool, True on the first frame of each segment


@dataclass(frozen=True)
class _Body:
    shape: str
    colour: tuple[float, float, float]
    outline: tuple[float, float, float] | None
    radius: float
    aspect: float
    angle: float
    spin: float


def random_segments(
    rng: np.random.Generator, total: int, min_len: int, max_len: int, p_empty: float = 0.12
) -> list[Segment]:
    """Random segments covering ``total`` frames; about half of the changes keep the same object."""
    segments: list[Segment] = []
    left = total
    while left > 0:
        length = int(rng.integers(min_len, max_len + 1))
        if left - length < min_len:
            length = left
        prev = segments[-1] if segments else None
        if rng.random() < p_empty:
            segments.append(Segment("empty", "none", length))
        elif prev is not None and prev.shape != "empty" and rng.random() < 0.5:
            motions = [m for m in MOTIONS[1:] if m != prev.motion]
            segments.append(Segment(prev.shape, str(rng.choice(motions)), length, same_object=True))
        else:
            segments.append(Segment(str(rng.choice(OBJECT_CLASSES)), str(rng.choice(MOTIONS[1:])), length))
        left -= length
    return segments


def _polygon(body: _Body, cx: float, cy: float, angle: float) -> np.ndarray:
    if body.shape == "circle":
        t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        pts = np.stack([np.cos(t) * body.aspect, np.sin(t)], axis=1)
    elif body.shape == "square":
        t = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
        pts = np.stack([np.cos(t) * body.aspect, np.sin(t)], axis=1)
    elif body.shape == "triangle":
        t = np.array([-0.5, 1 / 6, 5 / 6]) * np.pi
        pts = np.stack([np.cos(t), np.sin(t)], axis=1)
    else:  # star
        t = np.arange(10) * np.pi / 5 - np.pi / 2
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([np.cos(t) * r, np.sin(t) * r], axis=1)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = pts @ rot.T * body.radius + np.array([cx, cy])
    out: np.ndarray = np.round(pts * (1 << _SHIFT)).astype(np.int32)
    return out


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A static float32 BGR background in 0..255: textured, tiled, striped or flat-and-noisy."""
    base = rng.uniform(40, 210, size=3)
    kind = int(rng.integers(4))
    bg: np.ndarray
    if kind == 0:  # low-frequency blotches
        small = rng.normal(0, 35, size=(max(2, h // 24), max(2, w // 24), 3)).astype(np.float32)
        bg = base + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif kind == 1:  # floor tiles
        tile = int(rng.integers(16, 60))
        yy, xx = np.mgrid[0:h, 0:w]
        chk = ((yy // tile + xx // tile) % 2).astype(np.float32)[..., None]
        bg = base + chk * rng.normal(0, 25, size=3)
    elif kind == 2:  # gradient with faint lines
        g = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        g = g[None, :, None] if g.shape[0] == w else g[:, None, None]
        bg = base + g * rng.normal(0, 45, size=3) + np.zeros((h, w, 3), np.float32)
        bg = np.ascontiguousarray(bg, dtype=np.float32)
        for _ in range(int(rng.integers(2, 8))):
            p1 = (int(rng.integers(w)), int(rng.integers(h)))
            p2 = (int(rng.integers(w)), int(rng.integers(h)))
            col = tuple(float(c) for c in base + rng.normal(0, 30, size=3))
            cv2.line(bg, p1, p2, col, int(rng.integers(1, 4)), cv2.LINE_AA)
    else:  # flat with static grain
        grain = rng.normal(0, 1, size=(h, w, 1)) * rng.uniform(6, 16)
        bg = (base + grain + np.zeros((h, w, 3))).astype(np.float32)
    bg = bg + rng.normal(0, rng.uniform(2, 8), size=(h, w, 1))
    bg = cv2.GaussianBlur(np.clip(bg, 0, 255).astype(np.float32), (3, 3), 0)
    return np.ascontiguousarray(bg * rng.uniform(0.9, 1.1, size=3).astype(np.float32))


def _colour(rng: np.random.Generator, avoid: np.ndarray) -> tuple[float, float, float]:
    """A random colour that stands out from ``avoid`` (the background mean)."""
    best = np.zeros(3)
    for _ in range(30):
        hsv = np.array([[[rng.integers(180), rng.integers(80, 256), rng.integers(60, 256)]]], np.uint8)
        bgr = np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0], np.float64)
        best = bgr
        if np.linalg.norm(bgr - avoid) > 80:
            break
    return (float(best[0]), float(best[1]), float(best[2]))


def _body(rng: np.random.Generator, shape: str, radius: tuple[float, float], avoid: np.ndarray) -> _Body:
    colour = _colour(rng, avoid)
    outline = tuple(c * 0.45 for c in colour) if rng.random() < 0.3 else None
    return _Body(
        shape=shape,
        colour=colour,
        outline=outline,  # type: ignore[arg-type]
        radius=float(rng.uniform(*radius)),
        aspect=float(rng.uniform(0.85, 1.15)),
        angle=float(rng.uniform(0, 360)),
        spin=float(rng.uniform(-2.5, 2.5)),
    )


@functools.lru_cache(maxsize=4)
def _unit_noise(h: int, w: int) -> np.ndarray:
    """A fixed bank of unit Gaussian sensor-noise frames; scenes crop it at random offsets.

    Drawing fresh noise for every 320 x 240 frame costs more than rendering the rest of it.
    """
    bank = np.random.default_rng(20240601).standard_normal((4, h, w, 3), dtype=np.float32)
    bank.setflags(write=False)
    return bank


class Scene:
    """One camera's stream over a list of segments; iterate :meth:`frames` for BGR camera frames."""

    def __init__(
        self,
        seed: int | Sequence[int],
        segments: Sequence[Segment],
        size: tuple[int, int] = (CAMERA_HEIGHT, CAMERA_WIDTH),
        jpeg_prob: float = 0.0,
    ) -> None:
        self.rng = np.random.default_rng(list(seed) if not isinstance(seed, int) else seed)
        self.segments = tuple(segments)
        self.height, self.width = size
        rng = self.rng
        self.length = sum(s.length for s in segments)
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
        if rng.random() < 0.3:
            thick = int(rng.integers(6, 13))
            if rng.random() < 0.5:
                x = int(rng.integers(30, self.width - 30))
                self.pole = ((x, 0), (x, self.height), _colour(rng, avoid), thick)
            else:
                y = int(rng.integers(30, self.height - 30))
                self.pole = ((0, y), (self.width, y), _colour(rng, avoid), thick)
        self.clutter = [self._clutter_track(avoid) for _ in range(int(rng.integers(0, 3)))]
        self.mains, self.tracks = self._plan(avoid)

    def _clutter_track(self, avoid: np.ndarray) -> tuple[_Body, np.ndarray, bool]:
        rng = self.rng
        body = _body(rng, str(rng.choice(OBJECT_CLASSES)), CLUTTER_RADIUS, avoid)
        pos = np.array([rng.uniform(20, self.width - 20), rng.uniform(20, self.height - 20)])
        vel = rng.uniform(-0.8, 0.8, size=2)
        track = np.zeros((self.length, 2))
        lo, hi = np.array([10.0, 10.0]), np.array([self.width - 10.0, self.height - 10.0])
        for t in range(self.length):
            pos = pos + vel
            bounce = (pos < lo) | (pos > hi)
            vel = np.where(bounce, -vel, vel)
            pos = np.clip(pos, lo, hi)
            track[t] = pos
        return body, track, bool(rng.random() < 0.5)

    def _plan(self, avoid: np.ndarray) -> tuple[list[_Body | None], list[Track | None]]:
        rng = self.rng
        mains: list[_Body | None] = []
        tracks: list[Track | None] = []
        body: _Body | None = None
        last: tuple[float, float] | None = None
        for seg in self.segments:
            if seg.shape == "empty":
                mains.append(None)
                tracks.append(None)
                body, last = None, None
                continue
            if not (seg.same_object and body is not None and body.shape == seg.shape):
                body, last = _body(rng, seg.shape, MAIN_RADIUS, avoid), None
            track = plan_segment(rng, seg.motion, seg.length, body.radius, size=(self.width, self.height), start=last)
            if track.radius != body.radius:
                body = _Body(**{**body.__dict__, "radius": track.radius})
            mains.append(body)
            tracks.append(track)
            last = (float(track.xy[-1, 0]), float(track.xy[-1, 1]))
        return mains, tracks

    def labels(self) -> SceneLabels:
        """Frame class, motion, main-object centre and segment starts for every frame."""
        frame_labels, motion_labels, centers, starts = [], [], [], []
        for seg, track in zip(self.segments, self.tracks, strict=True):
            frame_labels += [FRAME_CLASSES.index(seg.shape)] * seg.length
            motion_labels += [MOTIONS.index(seg.motion)] * seg.length
            if track is None:
                centers.append(np.full((seg.length, 2), np.nan))
            else:
                scale = np.array([self.width, self.height])
                centers.append(track.xy / scale * 2 - 1)
            starts += [True] + [False] * (seg.length - 1)
        return SceneLabels(
            frame_labels=np.asarray(frame_labels, dtype=np.int64),
            motion_labels=np.asarray(motion_labels, dtype=np.int64),
            centers=np.concatenate(centers).astype(np.float32),
            segment_starts=np.asarray(starts, dtype=bool),
        )

    def _draw(self, img: np.ndarray, body: _Body, xy: np.ndarray, t: int, gain: float) -> None:
        pts = _polygon(body, float(xy[0]), float(xy[1]), body.angle + body.spin * t)
        colour = tuple(min(255.0, c * gain) for c in body.colour)
        cv2.fillPoly(img, [pts], colour, cv2.LINE_AA, _SHIFT)
        if body.outline is not None:
            outline = tuple(min(255.0, c * gain) for c in body.outline)
            cv2.polylines(img, [pts], True, outline, 2, cv2.LINE_AA, _SHIFT)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield every frame as a uint8 BGR ``[H, W, 3]`` array, as a camera would deliver it."""
        rng = self.rng
        t = 0
        for body, track, seg in zip(self.mains, self.tracks, self.segments, strict=True):
            for i in range(seg.length):
                wave = math.sin(2 * math.pi * t / self.light_period + self.light_phase)
                gain = self.tint_gain * (1 + self.light_amp * wave)
                img = cv2.convertScaleAbs(self.background, alpha=gain)
                front = []
                for cbody, ctrack, in_front in self.clutter:
                    if in_front:
                        front.append((cbody, ctrack[t]))
                    else:
                        self._draw(img, cbody, ctrack[t], t, gain)
                if body is not None and track is not None:
                    self._draw(img, body, track.xy[i], t, gain)
                for cbody, xy in front:
                    self._draw(img, cbody, xy, t, gain)
                if self.pole is not None:
                    p1, p2, colour, thick = self.pole
                    cv2.line(img, p1, p2, tuple(min(255.0, c * gain) for c in colour), thick, cv2.LINE_AA)
                k, dy, dx = (int(v) for v in rng.integers(0, (len(self.noise), _NOISE_PAD, _NOISE_PAD)))
                noise = self.noise[k, dy : dy + self.height, dx : dx + self.width]
                img = cv2.scaleAdd(noise, self.noise_sigma, img.astype(np.float32))
                img = np.clip(img, 0, 255).astype(np.uint8)
                if self.jpeg_quality is not None:
                    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
                    if decoded is not None:
                        img = decoded
                yield img
                t += 1

"""Results drawn on a frame: boxes with labels (and track ids), zones, lines, top labels, the sequence label.

Pure drawing with OpenCV on a BGR image the caller owns; ``scale`` maps source pixels to the
image's pixels, since the live view and clips draw on a downscaled copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamer.records import Image, Result
from streamer.zones import Line, Zone

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
ZONE_COLOUR = (0, 200, 255)
LINE_COLOUR = (255, 0, 255)


@dataclass(frozen=True)
class Overlay:
    """What to draw besides the result: the stream's zones and lines, and a status line."""

    zones: Sequence[Zone] = ()
    lines: Sequence[Line] = ()
    status: str = ""


def colour(label: str) -> tuple[int, int, int]:
    """A stable colour per label, bright enough to read white text on."""
    h = hashlib.blake2s(label.encode(), digest_size=3).digest()
    return (64 + h[0] % 160, 64 + h[1] % 160, 64 + h[2] % 160)


def _text(image: Image, text: str, org: tuple[int, int], bg: tuple[int, int, int], size: float = 0.5) -> None:
    (w, h), base = cv2.getTextSize(text, FONT, size, 1)
    x, y = org
    y = max(y, h + base)
    cv2.rectangle(image, (x, y - h - base), (x + w, y + base // 2), bg, cv2.FILLED)
    cv2.putText(image, text, (x, y - base // 2), FONT, size, WHITE, 1, cv2.LINE_AA)


@dataclass(frozen=True)
class _Box:
    box: tuple[float, float, float, float]
    label: str
    text: str


def _from_result(result: Result) -> tuple[list[_Box], list[str]]:
    boxes: list[_Box] = []
    texts: list[str] = []
    for out in result.outputs:
        for d in out.detections:
            name = f"#{d.track_id} {d.label}" if d.track_id is not None else d.label
            extra = f" {d.sequence.label}" if d.sequence is not None else ""
            boxes.append(_Box(d.box, d.label, f"{name} {d.score:.2f}{extra}"))
        if out.top:
            texts.append(f"{out.model}: {out.top[0].label} {out.top[0].score:.2f}")
    if result.sequence is not None:
        seq = result.sequence
        texts.append(f"{seq.model}: {seq.label} {seq.score:.2f} ({seq.steps} steps)")
    return boxes, texts


def _from_message(body: Mapping[str, Any]) -> tuple[list[_Box], list[str]]:
    """The same from a published result message (schema ``result``), as clips keep them."""
    boxes: list[_Box] = []
    texts: list[str] = []
    for model, out in body.get("models", {}).items():
        for d in out.get("detections", ()):
            track = d.get("track_id")
            name = f"#{track} {d['label']}" if track is not None else d["label"]
            extra = f" {d['sequence']['label']}" if d.get("sequence") else ""
            boxes.append(_Box(tuple(d["box"]), d["label"], f"{name} {d['score']:.2f}{extra}"))
        if out.get("top"):
            texts.append(f"{model}: {out['top'][0]['label']} {out['top'][0]['score']:.2f}")
    seq = body.get("sequence")
    if seq:
        texts.append(f"{seq['model']}: {seq['label']} {seq['score']:.2f} ({seq['steps']} steps)")
    return boxes, texts


def draw(image: Image, result: Result | None, scale: float, overlay: Overlay | None = None) -> Image:
    """Draw ``result`` and ``overlay`` onto ``image`` in place; returns it."""
    boxes, texts = _from_result(result) if result is not None else ([], [])
    return _draw(image, boxes, texts, scale, overlay or Overlay())


def draw_message(image: Image, body: Mapping[str, Any]) -> Image:
    """Draw a published result message onto ``image``, whatever its size (event clips burn these in)."""
    width = body.get("frame", {}).get("width") or image.shape[1]
    boxes, texts = _from_message(body)
    return _draw(image, boxes, texts, image.shape[1] / width, Overlay())


def _draw(image: Image, boxes: list[_Box], texts: list[str], scale: float, overlay: Overlay) -> Image:
    def px(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    for zone in overlay.zones:
        pts = np.array([px(*p) for p in zone.polygon], dtype=np.int32)
        cv2.polylines(image, [pts], True, ZONE_COLOUR, 2, cv2.LINE_AA)
        _text(image, zone.name, (int(pts[0][0]), int(pts[0][1])), ZONE_COLOUR)
    for line in overlay.lines:
        a, b = px(*line.a), px(*line.b)
        cv2.arrowedLine(image, a, b, LINE_COLOUR, 2, cv2.LINE_AA, tipLength=0.05)
        _text(image, line.name, a, LINE_COLOUR)
    for item in boxes:
        c = colour(item.label)
        x1, y1 = px(item.box[0], item.box[1])
        x2, y2 = px(item.box[2], item.box[3])
        cv2.rectangle(image, (x1, y1), (x2, y2), c, 2)
        _text(image, item.text, (x1, y1 - 2), c)
    lines = texts + ([overlay.status] if overlay.status else [])
    for i, text in enumerate(lines):
        _text(image, text, (4, 18 + 20 * i), BLACK)
    return image

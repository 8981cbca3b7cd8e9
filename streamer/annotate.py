"""Results drawn on a frame: boxes with labels (and track ids), zones, lines, top labels, the sequence label.

Pure drawing with OpenCV on a BGR image the caller owns; ``scale`` maps source pixels to the
image's pixels, since the live view and clips draw on a downscaled copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

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


def draw(image: Image, result: Result | None, scale: float, overlay: Overlay | None = None) -> Image:
    """Draw ``result`` and ``overlay`` onto ``image`` in place; returns it."""
    overlay = overlay or Overlay()

    def px(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    for zone in overlay.zones:
        pts = np.array([px(*p) for p in zone.polygon], dtype=np.int32)
        cv2.polylines(image, [pts], True, ZONE_COLOUR, 2, cv2.LINE_AA)
        _text(image, zone.name, tuple(pts[0]), ZONE_COLOUR)
    for line in overlay.lines:
        a, b = px(*line.a), px(*line.b)
        cv2.arrowedLine(image, a, b, LINE_COLOUR, 2, cv2.LINE_AA, tipLength=0.05)
        _text(image, line.name, a, LINE_COLOUR)
    texts: list[str] = []
    if result is not None:
        for out in result.outputs:
            for det in out.detections:
                c = colour(det.label)
                x1, y1 = px(det.box[0], det.box[1])
                x2, y2 = px(det.box[2], det.box[3])
                cv2.rectangle(image, (x1, y1), (x2, y2), c, 2)
                name = f"#{det.track_id} {det.label}" if det.track_id is not None else det.label
                _text(image, f"{name} {det.score:.2f}", (x1, y1 - 2), c)
            if out.top:
                texts.append(f"{out.model}: {out.top[0].label} {out.top[0].score:.2f}")
        if result.sequence is not None:
            seq = result.sequence
            texts.append(f"{seq.model}: {seq.label} {seq.score:.2f} ({seq.steps} steps)")
    if overlay.status:
        texts.append(overlay.status)
    for i, text in enumerate(texts):
        _text(image, text, (4, 18 + 20 * i), BLACK)
    return image

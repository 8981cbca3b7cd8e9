"""The live view's frames on a logical clock: nothing taken while nobody watches, one encoding for all viewers."""

from __future__ import annotations

import numpy as np

from streamer.annotate import Overlay, colour, draw
from streamer.preview import WATCH_GRACE_S, PreviewHub, PreviewSettings
from streamer.records import Detection, FrameInfo, ModelOutput, Result
from streamer.zones import Line, Zone
from tests.support.media import decode_image


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def frame(seq: int, w: int = 1920, h: int = 1080) -> tuple[FrameInfo, np.ndarray]:
    image = np.full((h, w, 3), 40, dtype=np.uint8)
    return FrameInfo("cam", seq, 0, 0.0, 0.0, w, h), image


def result(seq: int) -> Result:
    det = Detection("person", 0.9, (960.0, 540.0, 1440.0, 1080.0))
    return Result(FrameInfo("cam", seq, 0, 0.0, 0.0, 1920, 1080), (ModelOutput("det", "detector", detections=(det,)),))


def test_nothing_is_taken_until_a_viewer_asks_then_at_most_fps() -> None:
    clock = Clock()
    hub = PreviewHub(PreviewSettings(max_width=640, fps=5.0), clock)
    hub.add("cam")
    assert not hub.wants("cam") and not hub.wants("other")
    assert hub.picture("cam") is None  # asked, but no frame yet
    assert hub.wants("cam")
    hub.offer(*frame(1))
    assert not hub.wants("cam")  # due again in 1/fps
    clock.t += 0.2
    assert hub.wants("cam")
    clock.t += WATCH_GRACE_S
    assert not hub.wants("cam")  # the viewer went away


def test_one_encoding_serves_every_viewer_and_a_new_frame_makes_a_new_one() -> None:
    clock = Clock()
    hub = PreviewHub(PreviewSettings(max_width=640, fps=5.0), clock)
    hub.add("cam")
    hub.picture("cam")
    hub.offer(*frame(1))
    hub.result(result(1))
    first = hub.picture("cam")
    assert first is not None and hub.picture("cam") is first and hub.encoded_total == 1
    image = decode_image(first.jpeg)
    assert image.shape == (360, 640, 3)
    # The box (source 960..1440 x 540..1080) is drawn at a third of its size in the person's colour.
    edge = image[200:350, 320].astype(int)  # the box's left edge, x = 960 / 3
    assert np.abs(edge - np.array(colour("person"))).sum(axis=1).min() < 60
    assert abs(int(image[100, 100, 0]) - 40) < 8  # elsewhere the frame itself
    clock.t += 0.2
    hub.offer(*frame(2))
    second = hub.picture("cam")
    assert second is not None and second.version == first.version + 1 and hub.encoded_total == 2


def test_a_removed_stream_gives_nothing() -> None:
    hub = PreviewHub(PreviewSettings())
    hub.add("cam")
    hub.remove("cam")
    hub.offer(*frame(1))
    assert hub.picture("cam") is None and hub.streams() == []


def test_draw_marks_zones_lines_and_status() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    overlay = Overlay(
        (Zone("z", ((10.0, 10.0), (90.0, 10.0), (90.0, 90.0))),), (Line("l", (150.0, 0.0), (150.0, 100.0)),), "backoff"
    )
    draw(image, None, 1.0, overlay)
    assert image[50, 150].any() and image[10, 50].any()  # the line and the zone's top edge
    assert image[:20, :60].any()  # the status text

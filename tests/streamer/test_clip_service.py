"""The daemon's clip service: nothing without rules, recorders per watched stream, quiet streams, stop."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from streamer.clip_events import ClipDone, ClipEvent
from streamer.clip_service import ClipService
from streamer.codec import result_dict
from streamer.events_config import EventsConfig
from streamer.records import Detection, ModelOutput, Result
from tests.support.clipframes import decode, image, info

RULES = [{"name": "p", "label": "person", "min_frames": 1, "streams": ["cam"]}]


def events(**kw: object) -> EventsConfig:
    return EventsConfig.model_validate({"width": 320, "pre_s": 1, "post_s": 1.02, "rules": RULES, **kw})


def test_no_rules_no_service(tmp_path: Path) -> None:
    before = threading.active_count()
    assert ClipService.create(EventsConfig(), tmp_path, print) is None
    assert threading.active_count() == before and not any(tmp_path.iterdir())


def test_recorders_for_watched_streams_ticks_and_stop(tmp_path: Path) -> None:
    told: list[ClipEvent] = []
    now = [0.0]
    service = ClipService(events(), tmp_path, told.append, clock=lambda: now[0])
    service.writer.start()
    assert service.add("other") is None
    recorder = service.add("cam")
    assert recorder is not None and service.recorder("cam") is recorder
    det = (Detection("person", 0.9, (0, 0, 9, 9)),)
    for i in range(60):
        recorder.on_frame(info(i), image(i))
        result = Result(info(i), (ModelOutput("d", "detector", detections=det if i == 40 else ()),))
        recorder.on_result(result, result_dict(result, 0.0))
    now[0] = info(59).t_capture_mono + 5  # the camera went down: the clip must still end
    service.tick()
    assert not recorder.recording
    for i in range(250, 280):  # back up, another event, then the daemon stops mid-clip
        recorder.on_frame(info(i), image(i))
        result = Result(info(i), (ModelOutput("d", "detector", detections=det if i == 260 else ()),))
        recorder.on_result(result, result_dict(result, 0.0))
    assert service.stop()
    done = [e for e in told if isinstance(e, ClipDone)]
    assert [decode(Path(d.path))[0] for d in done] == [list(range(15, 60)), list(range(250, 280))]
    assert service.counts().done == 2


def test_annotate_off_drops_the_drawer(tmp_path: Path) -> None:
    service = ClipService(events(annotate=False), tmp_path, print, draw=lambda img, r: img)
    assert service.writer.draw is None


@pytest.mark.parametrize("replace", [True, False])
def test_a_stream_re_added_or_removed_closes_its_clip(tmp_path: Path, replace: bool) -> None:
    told: list[ClipEvent] = []
    service = ClipService(events(), tmp_path, told.append)
    service.writer.start()
    recorder = service.add("cam")
    assert recorder is not None
    det = (Detection("person", 0.9, (0, 0, 9, 9)),)
    for i in range(30):
        recorder.on_frame(info(i), image(i))
        result = Result(info(i), (ModelOutput("d", "detector", detections=det),))
        recorder.on_result(result, result_dict(result, 0.0))
    if replace:
        assert service.add("cam") is not recorder
    else:
        service.remove("cam")
        assert service.recorder("cam") is None
    assert not recorder.recording
    service.stop()
    assert [e.frames for e in told if isinstance(e, ClipDone)] == [30]

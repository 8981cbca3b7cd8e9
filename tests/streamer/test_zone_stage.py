"""The zones stage and its config: results marked with zones, events, relative points, bad zones refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from streamer.codec import event_dict, schema
from streamer.config import StreamConfig, parse_config
from streamer.errors import ConfigError
from streamer.records import Detection, FrameInfo, ModelOutput, Result
from streamer.zone_stage import ZoneStage, event_messages


def stream(**extra: Any) -> StreamConfig:
    return StreamConfig(name="cam", source="x.mp4", **extra)


def result(seq: int, x: float, epoch: int = 0, track: int | None = 1, size: tuple[int, int] = (200, 100)) -> Result:
    det = Detection("person", 0.9, (x - 5, 40.0, x + 5, 60.0), track_id=track)
    info = FrameInfo("cam", seq, epoch, 1000.0 + seq, float(seq), *size)
    return Result(info, (ModelOutput("det", "detector", detections=(det,)),))


CFG = {
    "lines": [{"name": "gate", "points": [[0.5, 0], [0.5, 1]], "relative": True}],
    "zones": [{"name": "east", "points": [[150, 0], [200, 0], [200, 100], [150, 100]]}],
    "zone_min_frames": 1,
}


def test_a_crossing_and_a_zone_entry_become_events_that_validate() -> None:
    stage = ZoneStage([stream(**CFG)])
    out = [stage(result(i, x)) for i, x in enumerate([80, 120, 160])]
    (_, r0), (_, r1), (marked, r2) = out
    assert r0 is not None and not r0.line_events and r1 is not None and not r1.zone_events
    assert r2 is not None and [e.zone for e in r2.zone_events] == ["east"]
    assert marked.outputs[0].detections[0].zones == ("east",)
    events = [event_dict(m) for r in (r1, r2) if r is not None for m in event_messages(r)]
    assert [e["event"] for e in events] == ["line_crossing", "zone_enter"]
    assert events[0]["direction"] == "out"  # to the left of a downward line
    for e in events:
        jsonschema.validate(e, schema("event"))


def test_untracked_detections_count_on_their_frame_without_events() -> None:
    stage = ZoneStage([stream(**CFG)])
    marked, report = stage(result(0, 170, track=None))
    assert report is not None and report.occupancy == {("east", "person"): 1} and not report.zone_events
    assert marked.outputs[0].detections[0].zones == ("east",)


def test_a_new_epoch_or_size_ends_the_tracks_inside() -> None:
    stage = ZoneStage([stream(**CFG)])
    stage(result(0, 170))
    _, report = stage(result(1, 170, epoch=1))
    assert report is not None and [e.change.value for e in report.zone_events] == ["leave", "enter"]


def test_streams_without_zones_pass_through() -> None:
    stage = ZoneStage([stream()])
    r = result(0, 170)
    assert stage(r) == (r, None)


@pytest.mark.parametrize(
    ("shape", "needle"),
    [
        ({"zones": [{"name": "z", "points": [[0, 0], [10, 10], [10, 0], [0, 10]]}]}, "crosses itself"),
        ({"zones": [{"name": "z", "points": [[0, 0], [10, 10]]}]}, "at least 3 points"),
        ({"zones": [{"name": "z", "points": [[0, 0], [1, 1], [2, 2]]}]}, "no area"),
        (
            {"zones": [{"name": "z", "points": [[0, 0], [1.5, 0], [1, 1]], "relative": True}]},
            "relative points are 0..1",
        ),
        ({"lines": [{"name": "l", "points": [[-1, 0], [5, 5]]}]}, "outside the frame"),
        ({"lines": [{"name": "l", "points": [[1, 1], [1, 1]]}]}, "the same"),
        (
            {"lines": [{"name": "l", "points": [[0, 0], [1, 1]]}, {"name": "l", "points": [[0, 1], [1, 1]]}]},
            "named 'l'",
        ),
    ],
)
def test_bad_zones_and_lines_are_one_line_naming_the_key(shape: dict[str, Any], needle: str, tmp_path: Path) -> None:
    data = {"models": {"m": {"path": "m.onnx"}}, "streams": [{"name": "cam", "source": "x.mp4", **shape}]}
    with pytest.raises(ConfigError) as err:
        parse_config(data, tmp_path, "c.toml")
    message = str(err.value)
    assert "\n" not in message and needle in message and "streams[0]" in message, message


def test_the_subscriber_summary_prints_events() -> None:
    import io

    from streamer.subscribe import summary_lines

    out = io.StringIO()
    stage = ZoneStage([stream(**CFG)])
    for i, x in enumerate([80, 120]):
        _, report = stage(result(i, x))
    assert report is not None
    (message,) = event_messages(report)
    summary_lines(out)("_events", event_dict(message))
    assert out.getvalue().startswith("[event] line_crossing cam line=gate direction=out track_id=1 label=person")

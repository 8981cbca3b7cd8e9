"""Payloads validate against the schemas that ship in the package."""

from __future__ import annotations

import json

import jsonschema
import pytest

from streamer.codec import encode_result, encode_status, result_dict, schema
from streamer.records import (
    Classification,
    Detection,
    FrameInfo,
    ModelOutput,
    Result,
    SequenceOutput,
    StatusEvent,
    StatusKind,
)

INFO = FrameInfo("cam0", 41, 2, 1_700_000_000.25, 12.5, 640, 480)


def full_result() -> Result:
    return Result(
        INFO,
        (
            ModelOutput("frame", "classifier", top=(Classification("circle", 0.9), Classification("empty", 0.05))),
            ModelOutput("det", "detector", detections=(Detection("person", 0.8, (1.0, 2.0, 30.5, 40.0)),)),
            ModelOutput("emb", "embedding", embedding=(0.1, -0.2)),
        ),
        SequenceOutput("motion", "left", 0.75, 12),
    )


def test_result_validates_and_carries_the_contract() -> None:
    payload = json.loads(encode_result(full_result(), 0.0123))
    jsonschema.validate(payload, schema("result"))
    assert payload["v"] == 2 and payload["stream"] == "cam0" and payload["seq"] == 41
    assert payload["t_capture"] == pytest.approx(1_700_000_000.25)
    assert payload["latency_s"] == pytest.approx(0.0123)
    assert payload["frame"] == {"width": 640, "height": 480}
    assert payload["models"]["frame"]["top"][0] == {"label": "circle", "score": 0.9}
    assert payload["models"]["det"]["detections"][0]["box"] == [1.0, 2.0, 30.5, 40.0]
    assert payload["models"]["det"]["detections"][0]["track_id"] is None  # untracked: null, not absent
    assert "sequence" not in payload["models"]["det"]["detections"][0]
    assert payload["sequence"] == {"model": "motion", "label": "left", "score": 0.75, "steps": 12}


def test_result_without_sequence_validates() -> None:
    r = Result(INFO, (ModelOutput("frame", "classifier", top=(Classification("a", 1.0),)),))
    d = result_dict(r, 0.0)
    assert d["sequence"] is None
    jsonschema.validate(d, schema("result"))


def test_schema_rejects_a_broken_payload() -> None:
    d = result_dict(full_result(), 0.01)
    del d["seq"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, schema("result"))


@pytest.mark.parametrize(
    "event",
    [
        StatusEvent(StatusKind.DAEMON_START, detail="streamer 0.1.0"),
        StatusEvent(StatusKind.STREAM_STATE, "cam0", "backoff", "stream lost; retry in 1.0s"),
        StatusEvent(StatusKind.CONFIG_ERROR, detail="c.toml: streams[0].name: unknown key"),
    ],
)
def test_status_validates(event: StatusEvent) -> None:
    jsonschema.validate(json.loads(encode_status(event)), schema("status"))


def test_tracked_detections_carry_their_id_and_per_object_sequence() -> None:
    moving = SequenceOutput("motion", "right", 0.875, 7)
    dets = (
        Detection("star", 0.9, (1.0, 2.0, 3.0, 4.0), track_id=12, sequence=moving),
        Detection("star", 0.4, (5.0, 6.0, 7.0, 8.0), track_id=3),
    )
    r = Result(INFO, (ModelOutput("det", "detector", detections=dets),))
    d = json.loads(encode_result(r, 0.0))
    jsonschema.validate(d, schema("result"))
    first, second = d["models"]["det"]["detections"]
    assert first["track_id"] == 12
    assert first["sequence"] == {"model": "motion", "label": "right", "score": 0.875, "steps": 7}
    assert second["track_id"] == 3 and "sequence" not in second


@pytest.mark.parametrize("bad", [0, -1, 1.5, "7"])
def test_schema_rejects_a_bad_track_id(bad: object) -> None:
    r = Result(INFO, (ModelOutput("det", "detector", detections=(Detection("star", 0.9, (1.0, 2.0, 3.0, 4.0)),)),))
    d = result_dict(r, 0.0)
    d["models"]["det"]["detections"][0]["track_id"] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, schema("result"))

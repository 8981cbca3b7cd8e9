"""Each vocabulary that crosses modules is one enum, held equal to the JSON Schemas and the metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streamer.codec import schema
from streamer.metrics import Metrics
from streamer.modelspec import IMAGE_KINDS
from streamer.records import DropReason, StatusKind, StreamState


def test_status_events_and_states_match_the_status_schema() -> None:
    props = schema("status")["properties"]
    assert set(props["event"]["enum"]) == {k.value for k in StatusKind}
    assert set(props["state"]["enum"]) == {s.value for s in StreamState} | {None}


def test_model_kinds_of_results_match_the_result_schema() -> None:
    kind = schema("result")["properties"]["models"]["additionalProperties"]["properties"]["kind"]
    assert set(kind["enum"]) == set(IMAGE_KINDS)


def test_every_drop_reason_and_state_has_a_series_from_the_start() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, process=False)
    metrics.add_stream("cam")
    for reason in DropReason:
        value = registry.get_sample_value("streamer_frames_dropped_total", {"stream": "cam", "reason": reason.value})
        assert value == 0.0, reason
    for state in StreamState:
        value = registry.get_sample_value("streamer_stream_state", {"stream": "cam", "state": state.value})
        assert value == (1.0 if state is StreamState.CONNECTING else 0.0), state
    metrics.remove_stream("cam")
    assert registry.get_sample_value("streamer_frames_dropped_total", {"stream": "cam", "reason": "error"}) is None


def test_event_kinds_match_the_event_schema() -> None:
    from streamer.clip_events import ClipEventKind
    from streamer.zones import ZoneChange

    kinds = {f"zone_{c.value}" for c in ZoneChange} | {"line_crossing"} | {k.value for k in ClipEventKind}
    assert set(schema("event")["properties"]["event"]["enum"]) == kinds


def test_every_clip_error_has_a_series_from_the_start() -> None:
    from streamer.clip_events import ClipError

    registry = CollectorRegistry()
    Metrics(registry, process=False)
    for reason in ClipError:
        assert registry.get_sample_value("streamer_clip_errors_total", {"reason": reason.value}) == 0.0

"""[events] config: defaults, and every mistake one line naming the key, as Config will report it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field, ValidationError

from streamer.config import Config, _message
from streamer.errors import ConfigError
from streamer.events_config import EventsConfig, RuleKind, check_rules


class Hooked(Config):
    """Config with the one line the merge adds."""

    events: EventsConfig = Field(default_factory=EventsConfig)


def parse(events: dict[str, Any]) -> EventsConfig:
    try:
        return Hooked.model_validate({"models": {"m": {"path": "m.onnx"}}, "events": events}).events
    except ValidationError as exc:
        raise ConfigError(f"c.toml: {_message(exc)}") from None


def test_defaults() -> None:
    e = parse({})
    assert (e.dir, e.width, e.jpeg_quality, e.pre_s, e.post_s, e.max_s) == ("clips", 640, 80, 3.0, 5.0, 60.0)
    assert e.ring_seconds == e.pre_s and e.rules == []
    assert int(e.max_bytes) == 2 * 2**30


def test_rules_and_sizes_parse() -> None:
    e = parse(
        {
            "max_bytes": "500MiB",
            "ring_s": 10,
            "rules": [
                {"name": "person-at-door", "label": "person", "zone": "door", "min_score": 0.6, "min_frames": 5},
                {"name": "gate", "kind": "crossing", "line": "gate", "streams": ["cam1"]},
            ],
        }
    )
    assert int(e.max_bytes) == 500 * 2**20 and e.ring_seconds == 10
    assert e.rules[0].kind is RuleKind.LABEL and e.rules[0].min_frames == 5
    assert e.rules[1].kind is RuleKind.CROSSING and e.rules[1].label is None


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ({"pre_s": -1}, "events.pre_s: Input should be greater than or equal to 0"),
        ({"post_s": -0.5}, "events.post_s: Input should be greater than or equal to 0"),
        ({"max_s": 0}, "events.max_s: Input should be greater than 0"),
        ({"ring_s": -2}, "events.ring_s: Input should be greater than or equal to 0"),
        ({"pre_s": 10, "ring_s": 5}, "events: pre_s = 10 is beyond the ring (ring_s = 5)"),
        ({"pre_s": 10, "max_s": 5}, "events: pre_s = 10 is longer than max_s = 5"),
        ({"post_s": float("inf")}, "events.post_s:"),
        ({"width": 8}, "events.width: Input should be greater than or equal to 16"),
        ({"max_bytes": "lots"}, "events.max_bytes:"),
        ({"bogus": 1}, "events.bogus: unknown key"),
        ({"rules": [{"name": "r"}]}, "events.rules[0]: a label rule needs label"),
        ({"rules": [{"name": "r", "label": "x", "line": "l"}]}, 'events.rules[0]: line belongs to kind = "crossing"'),
        ({"rules": [{"name": "r", "kind": "crossing", "zone": "z"}]}, "events.rules[0]: zone belongs to kind"),
        ({"rules": [{"name": "r", "kind": "loiter", "label": "x"}]}, "events.rules[0].kind: Input should be"),
        ({"rules": [{"name": "r", "label": "x", "min_frames": 0}]}, "events.rules[0].min_frames:"),
        ({"rules": [{"name": "r", "label": "x", "min_score": 1.5}]}, "events.rules[0].min_score:"),
        ({"rules": [{"name": "a/b", "label": "x"}]}, "events.rules[0].name: String should match pattern"),
        ({"rules": [{"name": "r", "label": "x"}, {"name": "r", "label": "y"}]}, "events: duplicate rule name 'r'"),
    ],
)
def test_errors_name_the_key(events: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(events)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"c.toml: {expected}"), message


STREAMS = ["cam1", "cam2"]
LABELS = {"person", "car", "walking"}
ZONES = {"cam1": {"door"}, "cam2": set[str]()}
LINES = {"cam1": set[str](), "cam2": {"gate"}}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"label": "persn"}, "events.rules[0].label: no model emits the label 'persn'"),
        ({"label": "person", "zone": "hall"}, "events.rules[0].zone: no zone named 'hall' on the rule's streams"),
        ({"label": "person", "zone": "door", "streams": ["cam2"]}, "events.rules[0].zone: no zone named 'door'"),
        ({"label": "person", "streams": ["cam3"]}, "events.rules[0].streams: no stream named 'cam3'"),
        ({"kind": "crossing", "line": "fence"}, "events.rules[0].line: no line named 'fence'"),
        ({"kind": "crossing", "label": "bike"}, "events.rules[0].label: no model emits the label 'bike'"),
    ],
)
def test_rules_naming_unknown_things(rule: dict[str, Any], expected: str) -> None:
    events = parse({"rules": [{"name": "r", **rule}]})
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        check_rules(events, STREAMS, LABELS, ZONES, LINES)


def test_known_names_pass() -> None:
    rules = [
        {"name": "a", "label": "person", "zone": "door"},
        {"name": "b", "kind": "crossing", "line": "gate", "label": "car"},
        {"name": "c", "kind": "crossing"},
        {"name": "d", "label": "walking", "streams": ["cam2"]},
    ]
    check_rules(parse({"rules": rules}), STREAMS, LABELS, ZONES, LINES)

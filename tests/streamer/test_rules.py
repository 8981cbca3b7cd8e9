"""Clip rules on scripted results: K consecutive frames, zones (tracked and not), crossings, edges."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.events_config import RuleConfig
from streamer.records import Classification, Detection, FrameInfo, ModelOutput, Result, SequenceOutput
from streamer.rules import RuleSet, rules_for
from streamer.zones import Direction, LineEvent, Update, Zone

DOOR = Zone("door", ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)))
INFO = FrameInfo("cam", 0, 0, 0.0, 0.0, 640, 480)


def tracked(label: str, score: float, box: tuple[float, float, float, float], track_id: int) -> Detection:
    return Detection(label, score, box, track_id=track_id)


def rule(**kw: Any) -> RuleConfig:
    return RuleConfig.model_validate({"name": "r", **kw})


def detections(*dets: Detection) -> Result:
    return Result(INFO, (ModelOutput("det", "detector", detections=dets),))


def person(score: float = 0.9, at: tuple[float, float] = (50.0, 50.0)) -> Detection:
    x, y = at
    return Detection("person", score, (x - 10, y - 40, x + 10, y))


NOTHING = detections()


def run(rules: RuleSet, frames: list[Result], updates: list[Update] | None = None) -> list[tuple[bool, bool]]:
    out = []
    for i, frame in enumerate(frames):
        v = rules.feed(frame, updates[i] if updates else None)
        out.append(("r" in v.firing, "r" in v.started))
    return out


def test_a_label_fires_after_k_frames_and_keeps_firing_while_it_holds() -> None:
    rules = RuleSet([rule(label="person", min_frames=3)])
    frames = [detections(person())] * 4 + [NOTHING] + [detections(person())] * 3
    assert run(rules, frames) == [
        (False, False), (False, False), (True, True), (True, False),
        (False, False),
        (False, False), (False, False), (True, True),
    ]  # fmt: skip


def test_a_gap_restarts_the_count() -> None:
    rules = RuleSet([rule(label="person", min_frames=3)])
    frames = [detections(person()), detections(person()), NOTHING, detections(person()), detections(person())]
    assert not any(firing for firing, _ in run(rules, frames))


@pytest.mark.parametrize(
    ("det", "fires"),
    [
        (person(0.9), True),
        (person(0.4), False),  # below min_score
        (Detection("car", 0.99, (0, 0, 10, 10)), False),
        (person(0.9, at=(150.0, 50.0)), False),  # outside the zone
    ],
)
def test_label_score_and_zone_of_untracked_detections(det: Detection, fires: bool) -> None:
    rules = RuleSet([rule(label="person", zone="door", min_score=0.5, min_frames=1)], zones=[DOOR])
    assert run(rules, [detections(det)]) == [(fires, fires)]


def test_a_tracked_detection_is_in_the_zones_the_counter_confirmed() -> None:
    rules = RuleSet([rule(label="person", zone="door", min_frames=1)], zones=[DOOR])
    inside_geometrically = tracked("person", 0.9, (40, 10, 60, 50), track_id=7)
    # The counter has not confirmed track 7 in the door yet (debouncing): the rule waits for it.
    assert run(rules, [detections(inside_geometrically)], [Update(zones_of={7: ()})]) == [(False, False)]
    outside = tracked("person", 0.9, (140, 10, 160, 50), track_id=7)
    assert run(rules, [detections(outside)], [Update(zones_of={7: ("door",)})]) == [(True, True)]


def test_zones_marked_by_the_zones_stage_count_as_they_are() -> None:
    rules = RuleSet([rule(label="person", zone="door", min_frames=1)], zones=[DOOR])
    marked = Detection("person", 0.9, (140, 10, 160, 50), track_id=3, zones=("door",))  # outside DOOR's polygon
    assert run(rules, [detections(marked)]) == [(True, True)]


def test_classifier_and_sequence_labels_count() -> None:
    rules = RuleSet([rule(name="walk", label="walking", min_frames=2), rule(name="cat", label="cat", min_frames=1)])
    seq = Result(INFO, (), SequenceOutput("rnn", "walking", 0.8, 10))
    cls = Result(INFO, (ModelOutput("cls", "classifier", top=(Classification("cat", 0.7),)),))
    assert rules.feed(seq).firing == ()
    assert rules.feed(seq).started == ("walk",)
    v = rules.feed(cls)
    assert v.firing == ("cat",) and v.started == ("cat",)


def crossing(line: str = "gate", label: str = "person") -> Update:
    return Update(line_events=(LineEvent(line, 1, label, Direction.IN),))


@pytest.mark.parametrize(
    ("kw", "update", "fires"),
    [
        ({}, crossing(), True),
        ({"line": "gate"}, crossing(), True),
        ({"line": "fence"}, crossing(), False),
        ({"label": "car"}, crossing(), False),
        ({"label": "car"}, crossing(label="car"), True),
        ({}, Update(), False),
    ],
)
def test_crossing_rules(kw: dict[str, Any], update: Update, fires: bool) -> None:
    rules = RuleSet([rule(kind="crossing", **kw)])
    assert run(rules, [NOTHING], [update]) == [(fires, fires)]


def test_a_crossing_fires_on_its_frame_only() -> None:
    rules = RuleSet([rule(kind="crossing")])
    assert run(rules, [NOTHING] * 3, [crossing(), crossing(), Update()]) == [
        (True, True),
        (True, False),
        (False, False),
    ]


def test_reset_forgets_what_held() -> None:
    rules = RuleSet([rule(label="person", min_frames=2)])
    rules.feed(detections(person()))
    rules.reset()
    assert rules.feed(detections(person())).firing == ()


def test_rules_for_a_stream() -> None:
    every, only = rule(name="a", label="x"), rule(name="b", label="x", streams=["cam2"])
    assert rules_for([every, only], "cam1") == (every,)
    assert rules_for([every, only], "cam2") == (every, only)
    assert not RuleSet([])

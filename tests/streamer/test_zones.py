"""Zones and lines on scripted tracks: crossings with direction, flicker, occupancy, forgetting."""

from __future__ import annotations

import pytest

from streamer.geometry import area, inside, segments_cross, self_intersects, side
from streamer.zones import Direction, Line, LineEvent, Tracked, Zone, ZoneChange, ZoneCounter

GATE = Line("gate", (100.0, 0.0), (100.0, 200.0))  # vertical, pointing down: its right-hand side is x < 100
ROOM = Zone("room", ((0.0, 0.0), (50.0, 0.0), (50.0, 50.0), (0.0, 50.0)))


def run(counter: ZoneCounter, xs: list[float], y: float = 100.0, tid: int = 1) -> list[LineEvent]:
    """The line events of a track along ``xs``, on a counter of lines only (so no zone events)."""
    events: list[LineEvent] = []
    for x in xs:
        update = counter.update([Tracked(tid, "person", (x, y))])
        assert update.zone_events == ()
        events += update.line_events
    return events


def test_geometry_predicates() -> None:
    assert side((0, 0), (1, 0), (0, 1)) == 1  # below a rightward line is its right-hand side (y down)
    assert side((0, 0), (1, 0), (5, 0)) == 0
    assert segments_cross((0, 0), (2, 2), (0, 2), (2, 0))
    assert not segments_cross((0, 0), (1, 1), (2, 2), (3, 0))
    assert segments_cross((0, 0), (2, 0), (1, 0), (1, 5))  # touching counts
    assert inside(ROOM.polygon, (10, 10)) and not inside(ROOM.polygon, (60, 10))
    assert self_intersects(((0, 0), (10, 10), (10, 0), (0, 10)))  # a bow tie
    assert not self_intersects(ROOM.polygon)
    assert area(ROOM.polygon) == 2500.0


@pytest.mark.parametrize(
    ("xs", "expected"),
    [
        ([80, 90, 110, 120, 130], [Direction.OUT]),  # left of x=100 is the right-hand side of a downward line
        ([130, 120, 90, 80, 70], [Direction.IN]),
        ([90, 95, 105, 95, 90, 95], []),  # one frame across and back: a flicker, not a crossing
        ([90, 105, 95, 106, 107, 108], [Direction.OUT]),  # flickers, then really crosses once
        ([90, 110, 120, 130, 90, 80, 70], [Direction.OUT, Direction.IN]),
    ],
)
def test_line_crossings_are_debounced_and_directed(xs: list[float], expected: list[Direction]) -> None:
    counter = ZoneCounter([], [GATE], min_frames=3)
    events = run(counter, xs)
    assert [e.direction for e in events] == expected


def test_passing_beside_the_segment_is_not_a_crossing() -> None:
    counter = ZoneCounter([], [GATE], min_frames=2)
    assert run(counter, [80, 90, 110, 120], y=300.0) == []  # the line ends at y=200


def test_min_frames_one_counts_at_once() -> None:
    counter = ZoneCounter([], [GATE], min_frames=1)
    assert len(run(counter, [90, 110])) == 1


def test_zone_enter_leave_and_occupancy() -> None:
    counter = ZoneCounter([ROOM], [], min_frames=2)
    u1 = counter.update([Tracked(1, "person", (10, 10)), Tracked(2, "car", (80, 80))])
    assert u1.zone_events == () and u1.occupancy[("room", "person")] == 0
    u2 = counter.update([Tracked(1, "person", (12, 10)), Tracked(2, "car", (80, 80))])
    assert [(e.track_id, e.change) for e in u2.zone_events] == [(1, ZoneChange.ENTER)]
    assert u2.occupancy == {("room", "person"): 1, ("room", "car"): 0}
    assert u2.zones_of == {1: ("room",), 2: ()}
    counter.update([Tracked(1, "person", (70, 10))])  # one frame out: not yet
    u4 = counter.update([Tracked(1, "person", (70, 10))])
    assert [(e.track_id, e.change) for e in u4.zone_events] == [(1, ZoneChange.LEAVE)]


def test_a_track_not_seen_for_long_leaves_its_zones() -> None:
    counter = ZoneCounter([ROOM], [], min_frames=1, forget_after=2)
    counter.update([Tracked(7, "person", (10, 10))])
    assert counter.update([]).zone_events == ()
    assert counter.update([]).zone_events == ()
    (leave,) = counter.update([]).zone_events
    assert (leave.track_id, leave.change) == (7, ZoneChange.LEAVE)


def test_reset_ends_every_track() -> None:
    counter = ZoneCounter([ROOM], [GATE], min_frames=1)
    counter.update([Tracked(1, "person", (10, 10)), Tracked(2, "person", (90, 10))])
    assert [e.track_id for e in counter.reset().zone_events] == [1]
    assert counter.update([Tracked(2, "person", (110, 10))]).line_events == ()  # a new track: no history

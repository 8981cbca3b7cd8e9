"""Zone occupancy and line crossings of tracked objects, debounced, for one stream.

Naive counters count an object twice when its box jitters across a line. Here a track's anchor
point must stay on the new side of a line (or inside / outside a zone) for ``min_frames``
consecutive frames before the change counts, and a line crossing counts only if the anchor's path
from its last confirmed position to its first position on the new side passes through the line's
segment, not elsewhere on its infinite extension.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from streamer.geometry import Point, inside, segments_cross, side


class ZoneChange(StrEnum):
    ENTER = "enter"
    LEAVE = "leave"


class Direction(StrEnum):
    """Across a line a->b: ``in`` is from its left to its right-hand side, walking from a to b on screen."""

    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class Zone:
    name: str
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class Line:
    name: str
    a: Point
    b: Point


@dataclass(frozen=True)
class Tracked:
    """One tracked object in a frame: what zones and lines see of it."""

    track_id: int
    label: str
    anchor: Point  # bottom centre of its box: where it touches the ground


@dataclass(frozen=True)
class ZoneEvent:
    zone: str
    track_id: int
    label: str
    change: ZoneChange


@dataclass(frozen=True)
class LineEvent:
    line: str
    track_id: int
    label: str
    direction: Direction


@dataclass(frozen=True)
class Update:
    """What one frame changed: events, each track's zones, and occupancy per (zone, label)."""

    zone_events: tuple[ZoneEvent, ...] = ()
    line_events: tuple[LineEvent, ...] = ()
    zones_of: dict[int, tuple[str, ...]] = field(default_factory=dict)
    occupancy: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class _Debounced:
    """A confirmed value and how many frames in a row a different one was seen."""

    value: int
    pending: int = 0
    last: Point | None = None  # lines: the anchor's last position on the confirmed side
    first_new: Point | None = None  # lines: its first position on the new side


@dataclass
class _Track:
    label: str
    seen: int  # the frame number it was last seen at
    zones: dict[str, _Debounced] = field(default_factory=dict)
    lines: dict[str, _Debounced] = field(default_factory=dict)


def bottom_centre(box: tuple[float, float, float, float]) -> Point:
    return ((box[0] + box[2]) / 2.0, box[3])


class ZoneCounter:
    """Per stream; fed the tracked objects of each frame in order, by one thread."""

    def __init__(self, zones: Sequence[Zone], lines: Sequence[Line], min_frames: int = 3, forget_after: int = 30):
        if min_frames < 1:
            raise ValueError("min_frames must be at least 1")
        self.zones = tuple(zones)
        self.lines = tuple(lines)
        self.min_frames = min_frames
        self.forget_after = forget_after
        self._tracks: dict[int, _Track] = {}
        self._frame = 0

    def reset(self) -> Update:
        """The stream's tracks ended (a new epoch): every object still inside a zone leaves it."""
        leaves = tuple(self._leave_all(tid, t) for tid, t in self._tracks.items())
        self._tracks.clear()
        return Update(zone_events=tuple(e for es in leaves for e in es))

    def update(self, objects: Iterable[Tracked]) -> Update:
        self._frame += 1
        zone_events: list[ZoneEvent] = []
        line_events: list[LineEvent] = []
        for obj in objects:
            track = self._tracks.get(obj.track_id)
            if track is None:
                track = self._tracks[obj.track_id] = _Track(obj.label, self._frame)
            track.seen, track.label = self._frame, obj.label
            zone_events.extend(self._zones(obj, track))
            line_events.extend(self._lines(obj, track))
        for tid in [tid for tid, t in self._tracks.items() if self._frame - t.seen > self.forget_after]:
            zone_events.extend(self._leave_all(tid, self._tracks.pop(tid)))
        zones_of: dict[int, tuple[str, ...]] = {}
        occupancy: dict[tuple[str, str], int] = {
            (z.name, t.label): 0 for z in self.zones for t in self._tracks.values()
        }
        for tid, t in self._tracks.items():
            names = tuple(name for name, d in t.zones.items() if d.value)
            zones_of[tid] = names
            for name in names:
                occupancy[(name, t.label)] += 1
        return Update(tuple(zone_events), tuple(line_events), zones_of, occupancy)

    def _zones(self, obj: Tracked, track: _Track) -> list[ZoneEvent]:
        events = []
        for zone in self.zones:
            now = int(inside(zone.polygon, obj.anchor))
            state = track.zones.setdefault(zone.name, _Debounced(0))
            if self._settle(state, now):
                change = ZoneChange.ENTER if now else ZoneChange.LEAVE
                events.append(ZoneEvent(zone.name, obj.track_id, obj.label, change))
        return events

    def _lines(self, obj: Tracked, track: _Track) -> list[LineEvent]:
        events = []
        for line in self.lines:
            now = side(line.a, line.b, obj.anchor)
            state = track.lines.get(line.name)
            if state is None:  # a track's first sighting sets its side; it crossed nothing yet
                track.lines[line.name] = _Debounced(now, last=obj.anchor)
                continue
            if now == 0:
                continue  # on the line itself: wait for a side
            if state.value == 0:  # born on the line: the first side seen is where it is
                state.value, state.last = now, obj.anchor
                continue
            if now != state.value and state.pending == 0:
                state.first_new = obj.anchor
            before = state.last
            if not self._settle(state, now):
                if now == state.value:
                    state.last = obj.anchor
                continue
            state.last = obj.anchor
            if (
                before is not None
                and state.first_new is not None
                and segments_cross(before, state.first_new, line.a, line.b)
            ):
                direction = Direction.IN if now > 0 else Direction.OUT
                events.append(LineEvent(line.name, obj.track_id, obj.label, direction))
        return events

    def _settle(self, state: _Debounced, now: int) -> bool:
        """Fold in this frame's value; True when a change has lasted ``min_frames`` and is now confirmed."""
        if now == state.value:
            state.pending = 0
            return False
        state.pending += 1
        if state.pending < self.min_frames:
            return False
        state.value, state.pending = now, 0
        return True

    def _leave_all(self, tid: int, track: _Track) -> list[ZoneEvent]:
        return [ZoneEvent(name, tid, track.label, ZoneChange.LEAVE) for name, d in track.zones.items() if d.value]

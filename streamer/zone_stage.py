"""The zones stage: each result's detections against its stream's zones and lines, after tracking.

Tracked detections go through the stream's debounced :class:`~streamer.zones.ZoneCounter`, which
gives enter/leave events, line crossings and occupancy. Untracked detections (no tracker on the
detector, or a track not yet confirmed) count in the zones their anchor lies in on that frame
alone, with no events. Relative zones become pixels at the first frame of each size; a new epoch
(reconnect, file loop) ends the stream's tracks, so every object still in a zone leaves it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from streamer.config import StreamConfig
from streamer.geometry import inside
from streamer.records import Detection, EventMessage, ModelOutput, Result
from streamer.zones import Line, LineEvent, Tracked, Update, Zone, ZoneCounter, ZoneEvent, bottom_centre

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZoneReport:
    """What one frame did to its stream's zones: events, and objects per (zone, label) now."""

    stream: str
    t_capture: float
    zone_events: tuple[ZoneEvent, ...] = ()
    line_events: tuple[LineEvent, ...] = ()
    occupancy: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class _StreamZones:
    cfg: StreamConfig
    size: tuple[int, int] | None = None
    epoch: int | None = None
    zones: tuple[Zone, ...] = ()
    lines: tuple[Line, ...] = ()
    counter: ZoneCounter | None = None


class ZoneStage:
    """Called by the inference thread with every result; streams without zones or lines pass through."""

    def __init__(self, streams: Iterable[StreamConfig] = ()) -> None:
        self._streams: dict[str, _StreamZones] = {}
        for cfg in streams:
            self.add(cfg)

    def add(self, cfg: StreamConfig) -> None:
        if cfg.zones or cfg.lines:
            self._streams[cfg.name] = _StreamZones(cfg)

    def remove(self, stream: str) -> None:
        """Forget a stream (its series go with the stream's metrics)."""
        self._streams.pop(stream, None)

    def __call__(self, result: Result) -> tuple[Result, ZoneReport | None]:
        s = self._streams.get(result.info.stream)
        if s is None:
            return result, None
        info = result.info
        events: list[ZoneEvent] = []
        if s.counter is None or s.size != (info.width, info.height) or s.epoch != info.epoch:
            if s.counter is not None:
                events += s.counter.reset().zone_events
            s.counter = self._layout(s, info.width, info.height)
        s.epoch = info.epoch
        tracked = [
            Tracked(d.track_id, d.label, bottom_centre(d.box))
            for out in result.outputs
            for d in out.detections
            if d.track_id is not None
        ]
        update = s.counter.update(tracked)
        update = dataclasses.replace(update, zone_events=tuple(events) + update.zone_events)
        outputs = tuple(self._mark(out, update, s) for out in result.outputs)
        report = self._report(info.stream, info.t_capture_wall, update)
        for out in outputs:  # untracked detections count on this frame alone
            for d in out.detections:
                if d.track_id is None:
                    for name in d.zones:
                        report.occupancy[(name, d.label)] = report.occupancy.get((name, d.label), 0) + 1
        return dataclasses.replace(result, outputs=outputs), report

    def _layout(self, s: _StreamZones, width: int, height: int) -> ZoneCounter:
        """The stream's zones and lines in pixels of this frame size, warning once for any beyond it."""
        for kind, shapes in (("zones", s.cfg.zones), ("lines", s.cfg.lines)):
            for i, shape in enumerate(shapes):
                point = shape.outside(width, height)
                if point is not None:
                    logger.warning(
                        "streams.%s.%s[%d] (%s): point (%g, %g) lies beyond the %dx%d frame",
                        s.cfg.name, kind, i, shape.name, point[0], point[1], width, height,
                    )  # fmt: skip
        s.size = (width, height)
        s.zones = tuple(z.zone(width, height) for z in s.cfg.zones)
        s.lines = tuple(ln.line(width, height) for ln in s.cfg.lines)
        return ZoneCounter(s.zones, s.lines, min_frames=s.cfg.zone_min_frames)

    def _mark(self, out: ModelOutput, update: Update, s: _StreamZones) -> ModelOutput:
        if not out.detections:
            return out
        dets: list[Detection] = []
        for d in out.detections:
            if d.track_id is not None:
                names = update.zones_of.get(d.track_id, ())
            else:
                anchor = bottom_centre(d.box)
                names = tuple(z.name for z in s.zones if inside(z.polygon, anchor))
            dets.append(dataclasses.replace(d, zones=names) if names else d)
        return dataclasses.replace(out, detections=tuple(dets))

    def _report(self, stream: str, t: float, update: Update) -> ZoneReport:
        return ZoneReport(stream, t, update.zone_events, update.line_events, dict(update.occupancy))


def event_messages(report: ZoneReport) -> list[EventMessage]:
    """The ``_events`` messages of a report: one per zone change and per line crossing."""
    base = {"stream": report.stream, "t_capture": round(report.t_capture, 6)}
    messages = [
        EventMessage(
            {**base, "event": f"zone_{e.change.value}", "zone": e.zone, "track_id": e.track_id, "label": e.label}
        )
        for e in report.zone_events
    ]
    messages += [
        EventMessage(
            {**base, "event": "line_crossing", "line": e.line, "direction": e.direction.value}
            | {"track_id": e.track_id, "label": e.label}
        )
        for e in report.line_events
    ]
    return messages

"""Prometheus series for zones and lines: crossings per direction and label, objects per zone and label.

Their label values (lines, zones, labels) come from config and from the models, so the series a
stream made are remembered here and removed with it: a removed stream leaves no series behind.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

from prometheus_client import CollectorRegistry, Counter, Gauge

from streamer.zone_stage import ZoneReport


class ZoneMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.crossings = Counter(
            "streamer_line_crossings",
            "Tracked objects that crossed a line, by direction (in: to its right-hand side) and label.",
            ["stream", "line", "direction", "label"],
            registry=registry,
        )
        self.zone_events = Counter(
            "streamer_zone_events",
            "Tracked objects that entered or left a zone, by label.",
            ["stream", "zone", "change", "label"],
            registry=registry,
        )
        self.objects = Gauge(
            "streamer_zone_objects",
            "Objects in a zone now, by label (tracked objects once confirmed, else this frame's detections).",
            ["stream", "zone", "label"],
            registry=registry,
        )
        self._series: dict[str, set[tuple[Counter | Gauge, tuple[str, ...]]]] = defaultdict(set)

    def report(self, report: ZoneReport) -> None:
        stream = report.stream
        seen = self._series[stream]
        for e in report.line_events:
            crossing = (stream, e.line, e.direction.value, e.label)
            self.crossings.labels(*crossing).inc()
            seen.add((self.crossings, crossing))
        for z in report.zone_events:
            change = (stream, z.zone, z.change.value, z.label)
            self.zone_events.labels(*change).inc()
            seen.add((self.zone_events, change))
        # Every (zone, label) this stream has shown stays a series; absent now means 0.
        shown = {labels for metric, labels in seen if metric is self.objects}
        shown |= {(stream, zone, label) for zone, label in report.occupancy}
        for labels in shown:
            self.objects.labels(*labels).set(report.occupancy.get((labels[1], labels[2]), 0))
            seen.add((self.objects, labels))

    def remove_stream(self, stream: str) -> None:
        for metric, labels in self._series.pop(stream, set()):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)

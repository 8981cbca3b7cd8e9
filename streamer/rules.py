"""Clip rules for one stream: fed each processed frame's result, they say which rules fire.

A label rule fires once its label (a detection, optionally in a zone; a classifier's answer; the
sequence label) has held with at least ``min_score`` for ``min_frames`` consecutive processed frames,
and keeps firing while it holds. A crossing rule fires on the frame a tracked object is counted
across a line (the zone counter has debounced it already). Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from streamer.events_config import RuleConfig, RuleKind
from streamer.geometry import inside
from streamer.records import Detection, Result
from streamer.zones import Update, Zone, bottom_centre


@dataclass(frozen=True)
class Verdict:
    """The rules after one frame: those firing now, and those of them that began firing on it."""

    firing: tuple[str, ...] = ()
    started: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Seen:
    label: str
    score: float
    zones: tuple[str, ...]


def rules_for(rules: Iterable[RuleConfig], stream: str) -> tuple[RuleConfig, ...]:
    """The rules that watch ``stream``."""
    return tuple(r for r in rules if r.streams is None or stream in r.streams)


class RuleSet:
    """The rules of one stream and how long each label rule has held; fed by one thread."""

    def __init__(self, rules: Sequence[RuleConfig], zones: Sequence[Zone] = ()):
        self.rules = tuple(rules)
        self.zones = tuple(zones)
        self._held = {r.name: 0 for r in self.rules}
        self._firing: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def reset(self) -> None:
        """The stream restarted (a new epoch): nothing has held any more."""
        self._held = dict.fromkeys(self._held, 0)
        self._firing.clear()

    def feed(self, result: Result, update: Update | None = None) -> Verdict:
        """Fold in one processed frame; ``update`` is the zone counter's for the same frame."""
        seen = list(self._seen(result, update))
        firing: list[str] = []
        started: list[str] = []
        for rule in self.rules:
            if rule.kind is RuleKind.LABEL:
                holds = any(_matches(rule, s) for s in seen)
                self._held[rule.name] = self._held[rule.name] + 1 if holds else 0
                now = self._held[rule.name] >= rule.min_frames
            else:
                now = update is not None and any(
                    (rule.line is None or e.line == rule.line) and (rule.label is None or e.label == rule.label)
                    for e in update.line_events
                )
            if now:
                firing.append(rule.name)
                if rule.name not in self._firing:
                    started.append(rule.name)
                self._firing.add(rule.name)
            else:
                self._firing.discard(rule.name)
        return Verdict(tuple(firing), tuple(started))

    def _seen(self, result: Result, update: Update | None) -> Iterator[_Seen]:
        for output in result.outputs:
            for c in output.top:
                yield _Seen(c.label, c.score, ())
            for d in output.detections:
                yield _Seen(d.label, d.score, self._zones_of(d, update))
        if result.sequence is not None:
            yield _Seen(result.sequence.label, result.sequence.score, ())

    def _zones_of(self, det: Detection, update: Update | None) -> tuple[str, ...]:
        """A tracked detection is in the zones the counter has confirmed; an untracked one where its anchor is."""
        if det.zones:  # marked by the zones stage: confirmed for a tracked object, this frame's otherwise
            return det.zones
        track_id = det.track_id
        if track_id is not None and update is not None and track_id in update.zones_of:
            return update.zones_of[track_id]
        anchor = bottom_centre(det.box)
        return tuple(z.name for z in self.zones if inside(z.polygon, anchor))


def _matches(rule: RuleConfig, seen: _Seen) -> bool:
    return seen.label == rule.label and seen.score >= rule.min_score and (rule.zone is None or rule.zone in seen.zones)

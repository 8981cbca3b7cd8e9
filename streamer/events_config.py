"""The ``[events]`` table: where event clips go, how they are sized, and the rules that start them.

Hooked into :class:`streamer.config.Config` as ``events: EventsConfig = Field(default_factory=EventsConfig)``.
It imports nothing from ``streamer.config``: that module imports this one, and importing back would cycle.

What pydantic cannot know at parse time (the labels the models declare, the zones and lines of each
stream) is checked by :func:`check_rules` once the models are loaded; it raises the same kind of
one-line :class:`~streamer.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import ByteSize, Field, model_validator

from streamer.errors import ConfigError
from streamer.strict import Strict

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Durations in seconds: up to an hour, as the other waits of the config (longer is a typo).
Duration = Annotated[float, Field(ge=0, le=3600)]


class RuleKind(StrEnum):
    """What a clip rule watches."""

    LABEL = "label"  # a label (detection, classification or sequence) held for min_frames frames
    CROSSING = "crossing"  # a tracked object crossing a line


class RuleConfig(Strict):
    """One ``[[events.rules]]`` entry."""

    name: Annotated[str, Field(pattern=NAME)]
    kind: RuleKind = RuleKind.LABEL
    # LABEL: the label to watch (required); CROSSING: only crossings by objects of this label.
    label: str | None = None
    # LABEL only: the detection's anchor (bottom centre of its box) must be in this zone.
    zone: str | None = None
    min_score: float = Field(default=0.5, ge=0, le=1)
    # LABEL only: consecutive processed frames the label must hold before the rule fires.
    min_frames: int = Field(default=3, ge=1, le=10_000)
    # CROSSING only: the line's name; none = any line.
    line: str | None = None
    # The streams the rule watches; none = every stream.
    streams: list[Annotated[str, Field(pattern=NAME)]] | None = None

    @model_validator(mode="after")
    def _shape(self) -> RuleConfig:
        if self.kind is RuleKind.LABEL:
            if self.label is None:
                raise ValueError("a label rule needs label")
            if self.line is not None:
                raise ValueError('line belongs to kind = "crossing" rules')
        elif self.zone is not None:
            raise ValueError('zone belongs to kind = "label" rules; a crossing rule names a line')
        return self


class EventsConfig(Strict):
    """``[events]``: event clips. No rules, no clips (and no frame ring, no cost)."""

    dir: str = "clips"
    # Clip width in pixels, aspect kept (even sizes, as H.264 wants); frames never upscaled.
    width: int = Field(default=640, ge=16, le=7680)
    jpeg_quality: int = Field(default=80, ge=10, le=100)
    # x264 constant rate factor of the written MP4 (lower = better and bigger).
    crf: int = Field(default=26, ge=0, le=51)
    pre_s: Duration = 3.0
    post_s: Duration = 5.0
    max_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # The ring of recent frames per stream: seconds kept (default: pre_s) and a memory cap.
    ring_s: Duration | None = None
    ring_bytes: ByteSize = Field(default=ByteSize(32 * 2**20), ge=2**20)
    # Disk budget of the clip directory: the oldest clips are deleted first.
    max_bytes: ByteSize = Field(default=ByteSize(2 * 2**30), ge=2**20)
    # Burn the results into the picture (needs an annotation drawer from the pipeline).
    annotate: bool = True
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounds(self) -> EventsConfig:
        if self.ring_s is not None and self.pre_s > self.ring_s:
            raise ValueError(f"pre_s = {self.pre_s:g} is beyond the ring (ring_s = {self.ring_s:g})")
        if self.pre_s > self.max_s:
            raise ValueError(f"pre_s = {self.pre_s:g} is longer than max_s = {self.max_s:g}")
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate rule name {dupes[0]!r}")
        return self

    @property
    def ring_seconds(self) -> float:
        return self.pre_s if self.ring_s is None else self.ring_s


def check_rules(
    events: EventsConfig,
    streams: Collection[str],
    labels: Collection[str],
    zones: Mapping[str, Collection[str]],
    lines: Mapping[str, Collection[str]],
) -> None:
    """Raise ConfigError naming the key of a rule that names an unknown stream, label, zone or line.

    ``labels`` are every label the loaded models can emit; ``zones`` and ``lines`` map each stream
    to the names configured on it. A zone or line must exist on at least one of the rule's streams.
    """
    for index, rule in enumerate(events.rules):
        key = f"events.rules[{index}]"
        for stream in rule.streams or ():
            if stream not in streams:
                raise ConfigError(f"{key}.streams: no stream named {stream!r}")
        if rule.label is not None and rule.label not in labels:
            raise ConfigError(f"{key}.label: no model emits the label {rule.label!r}")
        watched = rule.streams if rule.streams is not None else list(streams)
        for field, name, known in (("zone", rule.zone, zones), ("line", rule.line, lines)):
            if name is not None and not any(name in known.get(s, ()) for s in watched):
                raise ConfigError(f"{key}.{field}: no {field} named {name!r} on the rule's streams")

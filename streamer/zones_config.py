"""The zones and lines of a stream in config (``[[streams.zones]]``, ``[[streams.lines]]``), validated.

Points are source pixels, or fractions of the frame's width and height with ``relative = true``
(then the same config fits any camera resolution). A zone is a simple polygon of at least three
points; a line is two points, directed: ``in`` is crossing from its left to its right-hand side,
walking from the first point to the second as seen on screen.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamer.geometry import Point, area, self_intersects
from streamer.zones import Line, Zone

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Points = list[tuple[float, float]]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    points: Points
    relative: bool = False

    def _check_points(self) -> None:
        for x, y in self.points:
            if x < 0 or y < 0:
                raise ValueError(f"point ({x:g}, {y:g}) is outside the frame (negative)")
            if self.relative and (x > 1 or y > 1):
                raise ValueError(f"point ({x:g}, {y:g}) is outside the frame (relative points are 0..1)")

    def scaled(self, width: int, height: int) -> tuple[Point, ...]:
        """The points in source pixels for a frame of ``width`` x ``height``."""
        if not self.relative:
            return tuple(self.points)
        return tuple((x * width, y * height) for x, y in self.points)

    def outside(self, width: int, height: int) -> Point | None:
        """The first point beyond a ``width`` x ``height`` frame, if any."""
        for x, y in self.scaled(width, height):
            if x > width or y > height:
                return (x, y)
        return None


class ZoneConfig(_Shape):
    @model_validator(mode="after")
    def _valid(self) -> ZoneConfig:
        if len(self.points) < 3:
            raise ValueError("a zone needs at least 3 points")
        self._check_points()
        if self_intersects(self.points):
            raise ValueError("the polygon crosses itself; list its points in order around it")
        if area(self.points) == 0:
            raise ValueError("the polygon has no area")
        return self

    def zone(self, width: int, height: int) -> Zone:
        return Zone(self.name, self.scaled(width, height))


class LineConfig(_Shape):
    @model_validator(mode="after")
    def _valid(self) -> LineConfig:
        if len(self.points) != 2:
            raise ValueError("a line is exactly 2 points")
        self._check_points()
        if self.points[0] == self.points[1]:
            raise ValueError("the line's two points are the same")
        return self

    def line(self, width: int, height: int) -> Line:
        a, b = self.scaled(width, height)
        return Line(self.name, a, b)


def unique_names(zones: list[ZoneConfig], lines: list[LineConfig]) -> None:
    """Raise ValueError if two zones or two lines of one stream share a name."""
    for kind, shapes in (("zone", zones), ("line", lines)):
        names = [s.name for s in shapes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two {kind}s are named {name!r}")

"""Plane geometry for zones and lines, in source pixels (x right, y down).

Written here rather than taken from a geometry library: the daemon needs four predicates on
polygons of a few points, and a dependency such as shapely would outweigh them.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def cross(a: Point, b: Point, p: Point) -> float:
    """Which side of the directed line a->b ``p`` lies on: > 0 right-hand (y down), < 0 left, 0 on it."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def side(a: Point, b: Point, p: Point) -> int:
    """+1 on the right-hand side of a->b (as seen walking from a to b on screen), -1 on the left, 0 on it."""
    c = cross(a, b, p)
    return (c > 0) - (c < 0)


def segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether the segments p1-p2 and q1-q2 share a point (touching counts)."""
    d1, d2 = side(q1, q2, p1), side(q1, q2, p2)
    d3, d4 = side(p1, p2, q1), side(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True

    def on(a: Point, b: Point, p: Point) -> bool:
        return (
            side(a, b, p) == 0
            and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])
        )

    return on(q1, q2, p1) or on(q1, q2, p2) or on(p1, p2, q1) or on(p1, p2, q2)


def inside(polygon: Sequence[Point], p: Point) -> bool:
    """Whether ``p`` lies inside ``polygon`` (even-odd rule; points on the boundary may go either way)."""
    x, y = p
    hit = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def self_intersects(polygon: Sequence[Point]) -> bool:
    """Whether two edges of ``polygon`` that are not neighbours share a point."""
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a vertex by construction
            if segments_cross(*edges[i], *edges[j]):
                return True
    return False


def area(polygon: Sequence[Point]) -> float:
    """The polygon's area (shoelace), 0 for a degenerate one."""
    n = len(polygon)
    twice = sum(polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1] for i in range(n))
    return abs(twice) / 2.0

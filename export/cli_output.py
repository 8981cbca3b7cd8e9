"""What ``streamer-export``'s commands print: held-out figures under a title, and the files written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path


def print_figures(title: str, figures: Mapping[str, object]) -> None:
    print(title)
    for key, value in figures.items():
        print(f"  {key:<34} {value}")


def print_written(paths: Iterable[Path]) -> None:
    for path in paths:
        print(f"wrote {path}")

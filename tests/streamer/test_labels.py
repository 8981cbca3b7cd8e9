"""``labels_file``: one label per line, index order, relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.config import Config, parse_config
from streamer.errors import ConfigError
from streamer.labels import with_labels


def _config(tmp_path: Path, **model: object) -> Config:
    return parse_config({"models": {"m": {"path": "m.onnx", **model}}}, tmp_path, "c.toml")


def test_labels_read_in_order_trailing_blank_lines_ignored(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("person\nbicycle \n car\n\n\n", encoding="utf-8")
    cfg = with_labels(_config(tmp_path, labels_file="l.txt"), "m")
    assert cfg.labels == ["person", "bicycle", "car"]
    plain = _config(tmp_path, labels=["a"])
    assert with_labels(plain, "m").labels == ["a"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "models.m.labels_file: cannot read"),
        ("a\n\nb\n", "must hold one non-empty label per line"),
        ("\n\n", "must hold one non-empty label per line"),
        (b"\xff\xfe\x00", "models.m.labels_file: cannot read"),
    ],
)
def test_bad_labels_file(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "l.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        with_labels(_config(tmp_path, labels_file="l.txt"), "m")


def test_labels_and_labels_file_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.toml: models.m: give labels or labels_file, not both"):
        _config(tmp_path, labels=["a"], labels_file="l.txt")

"""Config validation: every mistake is one ConfigError line naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamer.config import load_config, parse_config
from streamer.errors import ConfigError

BASE: dict[str, Any] = {"models": {"m": {"path": "m.onnx"}}}


def cfg(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


def test_defaults() -> None:
    c = parse_config(cfg(streams=[{"name": "cam", "source": 0}]), Path("/etc/x"), "c.toml")
    assert c.publish.endpoint == "tcp://127.0.0.1:5556"
    assert c.metrics.listen == "127.0.0.1:9108"
    assert c.streams[0].realtime is True and c.streams[0].loop is False
    assert c.resolve("m.onnx") == Path("/etc/x/m.onnx")
    assert c.resolve("/abs/m.onnx") == Path("/abs/m.onnx")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "models: Field required"),
        (cfg(bogus=1), "bogus: unknown key"),
        ({"models": {"m": {"path": "x", "colour": "RGB"}}}, "models.m.colour: unknown key"),
        ({"models": {"m": {}}}, "models.m.path: Field required"),
        (cfg(streams=[{"name": "a", "source": "x"}, {"name": "a", "source": 1}]), "streams: duplicate stream name 'a'"),
        (cfg(streams=[{"name": "a"}]), "streams[0].source: Field required"),
        (cfg(streams=[{"name": "a", "source": -1}]), "streams[0].source: a device index must be >= 0"),
        (cfg(streams=[{"name": "a", "source": [1]}]), "streams[0].source: must be a device index"),
        (cfg(streams=[{"name": "a", "source": True}]), "streams[0].source: must be a device index"),
        (cfg(streams=[{"name": "a b", "source": 1}]), "streams[0].name: String should match pattern"),
        (cfg(streams=[{"name": "_status", "source": 1}]), "streams[0].name: String should match pattern"),
        (cfg(streams=[{"name": "a", "source": 1, "max_fps": 0}]), "streams[0].max_fps: Input should be greater than 0"),
        (cfg(streams=[{"name": "a", "source": 1, "realtime": "yes please"}]), "streams[0].realtime:"),
        (cfg(metrics={"listen": "9108"}), "metrics.listen: must be HOST:PORT"),
        (cfg(publish={"endpoint": "localhost:5556"}), "publish.endpoint: must look like tcp://"),
        (cfg(pipeline={"max_batch": 0}), "pipeline.max_batch: Input should be greater than or equal to 1"),
        (cfg(capture={"backoff_initial_s": 5, "backoff_max_s": 1}), "backoff_max_s must be >= backoff_initial_s"),
        ({"models": {"m": {"path": "x", "features": "nope"}}}, "models: m.features names no model 'nope'"),
        ({"models": {"m": {"path": "x", "kind": "segmenter"}}}, "models.m.kind: Input should be"),
        (
            cfg(streams=[{"name": "a", "source": "rtsp://h/", "password_file": "p", "password_credential": "c"}]),
            "streams[0]: give password_file or password_credential, not both",
        ),
        (cfg(base_dir="/"), "base_dir: unknown key"),
    ],
)
def test_errors_name_the_key(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, Path("."), "c.toml")
    msg = str(info.value)
    assert msg.startswith("c.toml: ")
    assert expected in msg
    assert "\n" not in msg


def test_invalid_toml(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[models.m\npath = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(p)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_file(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "c.toml"
    if kind == "directory":
        p.mkdir()
    with pytest.raises(ConfigError, match=str(p)):
        load_config(p)

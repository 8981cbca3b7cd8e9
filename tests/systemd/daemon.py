"""Writing a daemon config for the deployment tests, and starting `streamer run` on it.

The daemon runs two tiny real ONNX models (a per-frame classifier feeding a sequence model, from
``tests.tinymodels``) on the harness's clips, so every model metric has two series and the timing
of the watchdog tests does not depend on how fast the CI machine runs a real CNN. Ports are chosen
per test so several can run side by side. ``STREAMER_TEST_BASE_CONFIG=PATH`` takes the ``[models]``
of that config instead (for example the repository's ``config.toml``, or a GPU provider).
"""

from __future__ import annotations

import math
import os
import re
import sys
import tomllib
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG_ENV = "STREAMER_TEST_BASE_CONFIG"
SCHEMAS = REPO / "streamer" / "schemas"


def daemon_argv(config: Path) -> list[str]:
    """The command line the tests start the daemon with."""
    return [sys.executable, "-m", "streamer", "run", "--config", str(config)]


def models_for_test(directory: Path) -> dict[str, dict[str, Any]]:
    """The ``[models]`` tables for a test config, model files written to ``directory`` if needed."""
    base = os.environ.get(BASE_CONFIG_ENV)
    if base:
        return models_of(Path(base))
    # Imported here: building models needs the onnx package, reading a config does not.
    from tests import tinymodels

    cnn = tinymodels.classifier(directory / "cnn.onnx")
    rnn = tinymodels.sequence(directory / "rnn.onnx")
    return {"cnn": {"path": str(cnn)}, "rnn": {"path": str(rnn), "features": "cnn"}}


def models_of(config: Path) -> dict[str, dict[str, Any]]:
    """The ``[models]`` tables of an existing config, with paths made absolute."""
    models: dict[str, dict[str, Any]] = tomllib.loads(config.read_text())["models"]
    out: dict[str, dict[str, Any]] = {}
    for name, table in models.items():
        path = Path(table["path"])
        absolute = path if path.is_absolute() else (config.parent / path).resolve()
        out[name] = {**table, "path": str(absolute)}
    return out


def file_stream(name: str, clip: Path) -> dict[str, Any]:
    """A stream that plays ``clip`` in a loop at its own frame rate, like a live camera."""
    return {"name": name, "source": str(clip), "realtime": True, "loop": True}


def write_config(
    path: Path,
    *,
    streams: Sequence[Mapping[str, Any]],
    endpoint: str,
    metrics_listen: str,
    pipeline: Mapping[str, Any] | None = None,
    capture: Mapping[str, Any] | None = None,
) -> Path:
    """Write a complete daemon config to ``path`` and return it."""
    data: dict[str, Any] = {
        "publish": {"endpoint": endpoint},
        "metrics": {"listen": metrics_listen},
        "pipeline": dict(pipeline or {}),
        "capture": dict(capture or {}),
        "models": models_for_test(path.parent),
        "streams": [dict(s) for s in streams],
    }
    path.write_text(toml_dumps(data))
    return path


def toml_dumps(data: Mapping[str, Any]) -> str:
    """TOML for nested tables, arrays of tables and scalar/array values (all a config needs)."""
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).lstrip() + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _value(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value}")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(lines: list[str], prefix: list[str], table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        if not isinstance(value, Mapping) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        name = ".".join(_key(k) for k in [*prefix, key])
        if isinstance(value, Mapping):
            lines += ["", f"[{name}]"]
            _table(lines, [*prefix, key], value)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                _table(lines, [*prefix, key], item)


def scrape(listen: str) -> str:
    """The daemon's /metrics text."""
    with urllib.request.urlopen(f"http://{listen}/metrics", timeout=2) as response:
        text: str = response.read().decode("utf-8")
        return text


def sample_sum(metrics_text: str, name: str) -> float:
    """Sum of every sample of ``name`` (all label sets) in a /metrics exposition."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in {"{", " "}:
            total += float(line.rsplit(" ", 1)[1])
    return total

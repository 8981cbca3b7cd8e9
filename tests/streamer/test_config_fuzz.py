"""Config fuzzing: generated malformed configs always give exit 2 and one short line, never a
traceback or a hang.

Each example starts from a valid config (tiny real models, a file and an RTSP stream with a
password file) and breaks it in one way that must be refused: broken TOML or encoding, a missing
required key, an unknown key, a value of the wrong type, out of range or not finite, a malformed
string, a duplicate, a dangling reference, a file that is not there.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer import cli
from tests import tinymodels
from tests.systemd import daemon

_SPECIAL = {"nan": "__NaN__", "inf": "__Inf__", "-inf": "__-Inf__"}


def toml_dumps(data: Any) -> str:
    """TOML text, with the non-finite floats TOML allows (``nan``, ``inf``) written as such."""

    def mark(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return _SPECIAL[str(value)]
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = daemon.toml_dumps(mark(data))
    for literal, marker in _SPECIAL.items():
        text = text.replace(f'"{marker}"', literal)
    return text


MAX_MESSAGE = 400  # characters in the one error line


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("fuzz")
    tinymodels.classifier(root / "cls.onnx")
    tinymodels.sequence(root / "seq.onnx")
    (root / "clip.mp4").write_bytes(b"not really a video; check only needs the file to exist")
    (root / "cam.pass").write_text("secret\n")
    data: dict[str, Any] = {
        "publish": {"endpoint": "tcp://127.0.0.1:1", "send_hwm": 100, "queue_size": 16},
        "metrics": {"enabled": False, "listen": "127.0.0.1:1", "health_max_age_s": 5.0},
        "pipeline": {
            "max_batch": 4,
            "batch_deadline_ms": 4.0,
            "batch_wait": "fill",
            "state_reset_gap_s": 2.0,
            "stall_after_s": 15.0,
        },
        "capture": {"open_timeout_s": 2.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0},
        "models": {"cls": {"path": "cls.onnx", "top_k": 2}, "seq": {"path": "seq.onnx", "features": "cls"}},
        "streams": [
            {"name": "file", "source": "clip.mp4", "realtime": True, "loop": False},
            {"name": "cam", "source": "rtsp://127.0.0.1:1/x", "username": "u", "password_file": "cam.pass"},
        ],
    }
    return root, data


# -- what can go wrong ---------------------------------------------------------------------

# (path to the value, a strategy of values that field must refuse)
NOT_INT: st.SearchStrategy[str | list[int] | dict[str, Any]] = st.one_of(
    st.text(alphabet="abcxyz ,.", min_size=1), st.lists(st.integers(), max_size=2), st.just({})
)
NOT_NUMBER: st.SearchStrategy[str | list[float] | dict[str, Any]] = st.one_of(
    st.text(alphabet="abcxyz ", min_size=1), st.lists(st.floats(), max_size=2), st.just({})
)
NOT_STR = st.one_of(st.integers(), st.floats(allow_nan=False), st.lists(st.text(max_size=3), max_size=2))
NOT_BOOL = st.one_of(st.text(alphabet="abcxyz", min_size=2).filter(lambda s: s not in {"yes", "off"}),
                     st.integers(min_value=2), st.lists(st.booleans(), max_size=2))  # fmt: skip
NON_POSITIVE = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(float("nan")), st.just(float("inf")))
OPT_LEVELS = {"disable", "basic", "extended", "all"}
KINDS = {"classifier", "detector", "embedding", "sequence"}
BAD_VALUES: list[tuple[tuple[str | int, ...], st.SearchStrategy[Any]]] = [
    (("publish", "endpoint"), st.one_of(NOT_STR, st.sampled_from(["", "127.0.0.1:5556", "http://x", "tcp://"]))),
    (("publish", "send_hwm"), st.one_of(NOT_INT, st.integers(max_value=0))),
    (("publish", "queue_size"), st.one_of(NOT_INT, st.integers(max_value=0))),
    (("metrics", "enabled"), NOT_BOOL),
    (("metrics", "listen"), st.one_of(NOT_STR, st.sampled_from(["9108", ":9108", "host:", "h:0", "h:70000", "h:x"]))),
    (("metrics", "health_max_age_s"), st.one_of(NOT_NUMBER, NON_POSITIVE)),
    (("pipeline", "max_batch"), st.one_of(NOT_INT, st.integers(max_value=0), st.integers(min_value=257))),
    (("pipeline", "batch_deadline_ms"), st.one_of(NOT_NUMBER, st.floats(max_value=-0.001), st.floats(min_value=1001))),
    (("pipeline", "batch_wait"), st.one_of(NOT_STR, st.text(max_size=8).filter(lambda s: s not in {"auto", "fill"}))),
    (("pipeline", "state_reset_gap_s"), st.one_of(NOT_NUMBER, NON_POSITIVE)),
    (("pipeline", "stall_after_s"), st.one_of(NOT_NUMBER, NON_POSITIVE)),
    (("capture", "open_timeout_s"), st.one_of(NOT_NUMBER, NON_POSITIVE)),
    (("capture", "read_timeout_s"), st.one_of(NOT_NUMBER, NON_POSITIVE)),
    (("capture", "backoff_initial_s"), st.one_of(NOT_NUMBER, NON_POSITIVE, st.floats(min_value=1.01, max_value=1e6))),
    (("capture", "thread_nice"), st.one_of(NOT_INT, st.integers(max_value=-1), st.integers(min_value=20))),
    (("capture", "offline_thread_nice"), st.one_of(NOT_INT, st.integers(max_value=-1), st.integers(min_value=20))),
    (("capture", "backoff_max_s"), st.one_of(NOT_NUMBER, NON_POSITIVE, st.floats(min_value=0.001, max_value=0.19))),
    (("models", "cls", "path"), st.one_of(NOT_STR, st.sampled_from(["", "missing.onnx", "clip.mp4", "."]))),
    (("models", "cls", "providers"), st.one_of(st.text(min_size=1), st.lists(st.integers(), min_size=1))),
    (("models", "cls", "intra_op_threads"), st.one_of(NOT_INT, st.integers(max_value=-1), st.integers(min_value=257))),
    (("models", "cls", "graph_optimization"), st.text(max_size=8).filter(lambda s: s not in OPT_LEVELS)),
    (("models", "cls", "top_k"), st.one_of(NOT_INT, st.integers(max_value=0))),
    (("models", "cls", "confidence"), st.one_of(NOT_NUMBER, st.floats(min_value=1.001), st.floats(max_value=-0.001))),
    (("models", "cls", "kind"), st.text(max_size=8).filter(lambda s: s not in KINDS)),
    (("models", "cls", "input_size"), st.one_of(st.lists(st.integers(), min_size=3, max_size=4), st.text(min_size=1))),
    (("models", "cls", "mean"), st.lists(st.floats(allow_nan=False), min_size=4, max_size=5)),
    (("models", "seq", "features"), st.text(alphabet="abcxyz", min_size=1, max_size=8).filter(lambda s: s != "cls")),
    (("streams", 0, "name"), st.one_of(NOT_STR, st.sampled_from(["", "-x", "a b", "x" * 65, "ä", "a/b", "_x"]))),
    (
        ("streams", 0, "source"),
        st.one_of(
            st.just(True),
            st.integers(max_value=-1),
            st.lists(st.text(), max_size=2),
            st.sampled_from(["", "  ", "missing.mp4", "."]),
        ),
    ),
    (("streams", 0, "realtime"), NOT_BOOL),
    (("streams", 0, "loop"), NOT_BOOL),
    (("streams", 0, "max_fps"), st.one_of(NOT_NUMBER, NON_POSITIVE)),
    (("streams", 1, "password_file"), st.one_of(NOT_STR, st.just("missing.pass"), st.just("."))),
    (("streams", 1, "username"), NOT_STR),
]

REQUIRED: list[tuple[str | int, ...]] = [
    ("models",),
    ("models", "cls", "path"),
    ("streams", 0, "name"),
    ("streams", 0, "source"),
    ("streams", 1, "name"),
]

# Where an unknown key can be slipped in (every table is closed).
TABLES: list[tuple[str | int, ...]] = [
    (), ("publish",), ("metrics",), ("pipeline",), ("capture",), ("models", "cls"), ("streams", 0), ("streams", 1),
]  # fmt: skip


def _get(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def malformed(draw: st.DrawFn, base: dict[str, Any]) -> tuple[str, bytes]:  # noqa: C901, PLR0912  (a case per kind)
    """One way of breaking the base config: (what was done, the file's bytes)."""
    data = copy.deepcopy(base)
    how = draw(st.sampled_from(["value", "required", "unknown", "special", "toml", "encoding"]))
    if how == "value":
        path, values = draw(st.sampled_from(BAD_VALUES))
        value = draw(values)
        _get(data, path[:-1])[path[-1]] = value
        what = f"{path} = {value!r}"
    elif how == "required":
        path = draw(st.sampled_from(REQUIRED))
        del _get(data, path[:-1])[path[-1]]
        what = f"without {path}"
    elif how == "unknown":
        path = draw(st.sampled_from(TABLES))
        key = "x_" + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", max_size=12))
        _get(data, path)[key] = draw(st.one_of(st.integers(), st.text(max_size=10), st.booleans()))
        what = f"unknown key {key} in {path}"
    elif how == "special":
        what = draw(st.sampled_from([
            "duplicate stream", "no models", "both secrets", "credential without directory", "base_dir",
            "streams not a list", "models not a table", "curve half", "section not a table",
        ]))  # fmt: skip
        if what == "duplicate stream":
            data["streams"][1]["name"] = "file"
        elif what == "no models":
            data["models"] = {}
        elif what == "both secrets":
            data["streams"][1]["password_credential"] = "cam"
        elif what == "credential without directory":
            del data["streams"][1]["password_file"]
            data["streams"][1]["password_credential"] = "cam"
        elif what == "base_dir":
            data["base_dir"] = "/"
        elif what == "streams not a list":
            data["streams"] = {"name": "x", "source": "clip.mp4"}
        elif what == "models not a table":
            data["models"] = ["cls.onnx"]
        elif what == "curve half":
            data["publish"]["curve"] = {"secret_key_file": "server.key_secret"}
        else:
            data[draw(st.sampled_from(["publish", "metrics", "pipeline", "capture"]))] = draw(
                st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
            )
    elif how == "toml":
        text = toml_dumps(base)
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        junk = draw(st.text(alphabet="[]{}=\"'#.,\n abc1", min_size=1, max_size=12))
        broken = text[:cut] + junk + text[cut:]
        try:
            tomllib.loads(broken)
        except tomllib.TOMLDecodeError:
            return f"broken TOML at {cut}: {junk!r}", broken.encode()
        # The junk happened to be valid TOML (and maybe a valid config): break it for sure.
        return f"TOML edit at {cut}: {junk!r}, then an unclosed table", (broken + "\n[[[not toml").encode()
    else:
        raw = toml_dumps(base).encode()
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x80abc"]))
        return f"invalid UTF-8 at {at}", raw[:at] + bad + raw[at:]
    return what, toml_dumps(data).encode()


def run_check(path: Path) -> tuple[int, str]:
    """``streamer check --config path`` in this process: (exit code, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(["--log-level", "ERROR", "check", "--config", str(path)])
    return code, err.getvalue()


def assert_refused(code: int, stderr: str, what: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"{what}: exit {code}\n{stderr}"
    assert "Traceback" not in stderr, f"{what}:\n{stderr}"
    errors = [line for line in lines if line.startswith("streamer: error: ")]
    assert len(errors) == 1, f"{what}: {lines}"
    assert len(errors[0]) <= MAX_MESSAGE, f"{what}: {len(errors[0])} characters: {errors[0]}"


def test_the_base_config_is_valid(base: tuple[Path, dict[str, Any]]) -> None:
    root, data = base
    path = root / "valid.toml"
    path.write_text(toml_dumps(data))
    code, stderr = run_check(path)
    assert code == 0, stderr


@settings(
    max_examples=250,
    deadline=10_000,  # a hang fails the example instead of the run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(data=st.data())
def test_malformed_configs_exit_2_with_one_short_line(base: tuple[Path, dict[str, Any]], data: st.DataObject) -> None:
    root, valid = base
    what, content = data.draw(malformed(valid), label="config")
    path = root / "fuzz.toml"
    path.write_bytes(content)
    code, stderr = run_check(path)
    assert_refused(code, stderr, what)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(data=st.data())
def test_malformed_configs_stop_streamer_run_too(base: tuple[Path, dict[str, Any]], data: st.DataObject) -> None:
    """The same configs given to a real ``streamer run`` process: exit 2 within seconds."""
    root, valid = base
    what, content = data.draw(malformed(valid), label="config")
    path = root / "fuzz-run.toml"
    path.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "streamer", "--log-level", "ERROR", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert_refused(proc.returncode, proc.stderr, what)

"""``streamer bench --json`` end to end with tiny models and a short clip (a CI smoke test, a few seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamer.cli import main
from streamer.config import ModelConfig
from streamer.runtime import _Binding, load_model
from tests import tinymodels
from tests.support.media import make_mp4v_clip


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path, Path]:
    cnn = tinymodels.classifier(tmp_path / "cnn.onnx")
    rnn = tinymodels.sequence(tmp_path / "rnn.onnx")
    clip = make_mp4v_clip(tmp_path / "clip.mp4", frames=30)
    return cnn, rnn, clip


def test_bench_json_reports_every_stage(tiny: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cnn, rnn, clip = tiny
    argv = ["--log-level", "WARNING", "bench", "--model", str(cnn), "--model", str(rnn), "--clip", str(clip),
            "--streams", "1,2", "--batches", "1,2", "--seconds", "0.4", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    stages = report["stages"]
    assert stages["decode_fps"] > 0 and stages["capture_fps"] > 0 and stages["preprocess_ms"] > 0
    assert [p["batch"] for p in stages["inference"]] == [1, 2]
    assert stages["bound_fps"] > 0 and stages["json_us"] > 0
    # the batch cost line through the two batch sizes measured
    one, two = (p["batch_ms"] for p in stages["inference"])
    per_frame = max(0.0, two - one)
    fixed = max(0.0, (one + two) / 2 - 1.5 * per_frame)
    assert stages["batch_per_frame_ms"] == pytest.approx(per_frame, abs=1e-3)
    assert stages["batch_per_run_ms"] == pytest.approx(fixed, abs=1e-3)
    assert [p["streams"] for p in report["pipeline"]] == [1, 2]
    assert all(p["fps"] > 0 for p in report["pipeline"])
    assert report["ratio_to_bound"] > 0
    assert report["cameras_at_25fps"] == int(max(p["fps"] for p in report["pipeline"]) // 25)
    assert report["frame_size"] == [320, 240]


def test_bench_needs_models_or_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_bench_rejects_bad_stream_list(tiny: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cnn, _, clip = tiny
    assert main(["bench", "--model", str(cnn), "--clip", str(clip), "--streams", "a,b"]) == 2
    assert "comma-separated" in capsys.readouterr().err


@pytest.mark.parametrize("upload", [False, True])
def test_io_binding_matches_plain_run(tiny: tuple[Path, Path, Path], upload: bool) -> None:
    """The bound path (host arrays, or per-shape uploaded OrtValues as on a GPU) gives plain run's outputs."""
    _, rnn, _ = tiny
    plain = load_model("rnn", rnn, ModelConfig(path="x", io_binding="off"), 4)
    bound = load_model("rnn", rnn, ModelConfig(path="x", io_binding="on"), 4)
    assert bound.io_binding and not plain.io_binding
    binding = _Binding(bound._session, list(bound.outputs), "cpu", upload=upload)
    rng = np.random.default_rng(1)
    for batch in (1, 3, 3, 1):  # new shapes, then reused buffers and device values
        feeds = {"features": rng.standard_normal((batch, 3), dtype=np.float32),
                 "h_in": rng.standard_normal((1, batch, 4), dtype=np.float32)}
        want = plain.run(feeds)
        for got in (bound.run(feeds), binding.run(feeds)):
            for name, value in want.items():
                np.testing.assert_allclose(got[name], value, rtol=1e-6)

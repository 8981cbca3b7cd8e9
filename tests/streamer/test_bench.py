"""``streamer bench --json`` end to end with tiny models and a short clip (a CI smoke test, a few seconds)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.bench import (
    BenchOptions,
    BenchReport,
    DecodePoint,
    InferencePoint,
    Limit,
    PipelinePoint,
    Resource,
    StageFigures,
    format_report,
)
from streamer.bench.clip import cache_dir, ffmpeg_command, make_clip, preset_clip
from streamer.bench.run import _config, _median_record, _workers
from streamer.cli import main
from streamer.errors import ConfigError
from streamer.model_config import ModelConfig
from streamer.runtime import _Binding, load_model
from tests import tinymodels
from tests.support.media import ffmpeg_path, make_mp4v_clip


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path, Path]:
    cnn = tinymodels.classifier(tmp_path / "cnn.onnx")
    rnn = tinymodels.sequence(tmp_path / "rnn.onnx")
    clip = make_mp4v_clip(tmp_path / "clip.mp4", frames=30)
    return cnn, rnn, clip


def test_bench_json_reports_every_stage(tiny: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cnn, rnn, clip = tiny
    argv = ["--log-level", "WARNING", "bench", "--model", str(cnn), "--model", str(rnn), "--clip", str(clip),
            "--streams", "1,2", "--batches", "1,2", "--seconds", "0.4", "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    stages = report["stages"]
    assert stages["decode_fps"] > 0 and stages["capture_fps"] > 0 and stages["preprocess_ms"] > 0
    assert [p["batch"] for p in stages["inference"]] == [1, 2]
    assert stages["json_us"] > 0
    best = max(stages["inference"], key=lambda p: p["fps"])
    assert (stages["best_batch"], stages["inference_best_fps"]) == (best["batch"], best["fps"])
    # the batch cost line through the two batch sizes measured
    one, two = (p["batch_ms"] for p in stages["inference"])
    per_frame = max(0.0, two - one)
    fixed = max(0.0, (one + two) / 2 - 1.5 * per_frame)
    assert stages["batch_per_frame_ms"] == pytest.approx(per_frame, abs=1e-3)
    assert stages["batch_per_run_ms"] == pytest.approx(fixed, abs=1e-3)
    # decode alone on as many threads as each pipeline run has streams
    decode_alone = {p["threads"]: p["fps"] for p in stages["decode_alone"]}
    assert sorted(decode_alone) == [1, 2] and all(fps > 0 for fps in decode_alone.values())
    # and OpenCV's read() beside it, the common baseline the pipeline is also given against
    opencv = {p["threads"]: p["opencv_fps"] for p in stages["decode_alone"]}
    assert all(fps > 0 for fps in opencv.values())
    assert [p["streams"] for p in report["pipeline"]] == [1, 2]
    for p in report["pipeline"]:
        assert p["fps"] > 0
        assert p["limit_fps"] == min(decode_alone[p["streams"]], stages["inference_best_fps"])
        assert p["limited_by"] in {"decode", "inference"}
        assert p["limit_fps"] == (decode_alone[p["streams"]] if p["limited_by"] == "decode" else best["fps"])
        assert p["ratio"] == pytest.approx(p["fps"] / p["limit_fps"], abs=1e-3)
        assert p["ratio_to_opencv_read"] == pytest.approx(p["fps"] / opencv[p["streams"]], abs=1e-3)
    top = report["pipeline"][-1]
    assert report["limit_streams"] == 2
    assert (report["limit_fps"], report["limited_by"]) == (top["limit_fps"], top["limited_by"])
    assert report["ratio_to_limit"] == top["ratio"]
    assert report["cameras_at_25fps"] == int(max(p["fps"] for p in report["pipeline"]) // 25)
    assert report["frame_size"] == [320, 240]


def _figures(decode: dict[int, float], inference_fps: tuple[float, ...]) -> StageFigures:
    """Hand-made stage figures: decode alone per thread count, inference at batch 1, 2, 4..."""
    points = tuple(InferencePoint(2**i, 2**i * 1000.0 / fps, fps) for i, fps in enumerate(inference_fps))
    return StageFigures(
        decode_fps=100.0, preprocess_ms=1.0, capture_fps=90.0, capture_threads=2, json_us=10.0,
        inference=points, decode_alone=tuple(DecodePoint(n, fps) for n, fps in decode.items()),
    )  # fmt: skip


def _point(streams: int, fps: float) -> PipelinePoint:
    return PipelinePoint(streams, fps, 10.0, 20.0, 1.5, 0, 150.0)


@pytest.mark.parametrize(
    ("decode", "inference_fps", "streams", "limit_fps", "limited_by"),
    [
        ({1: 120.0, 4: 300.0}, (80.0, 150.0, 200.0), 1, 120.0, Resource.DECODE),  # one decoder is slower
        ({1: 120.0, 4: 300.0}, (80.0, 150.0, 200.0), 4, 200.0, Resource.INFERENCE),  # best batch, not batch 1
        ({1: 120.0, 4: 300.0}, (80.0, 350.0, 200.0), 4, 300.0, Resource.DECODE),  # best fps, not largest batch
        ({2: 150.0}, (150.0,), 2, 150.0, Resource.DECODE),  # a tie is put on decode
    ],
)
def test_limit_is_the_slowest_resource_alone(
    decode: dict[int, float], inference_fps: tuple[float, ...], streams: int, limit_fps: float, limited_by: Resource
) -> None:
    assert _figures(decode, inference_fps).limit(streams) == Limit(limit_fps, limited_by)


def test_limit_needs_decode_measured_on_that_many_threads() -> None:
    with pytest.raises(ValueError, match="3 thread"):
        _figures({1: 100.0, 4: 300.0}, (200.0,)).limit(3)


def test_report_ratio_is_at_the_largest_stream_count() -> None:
    """Not at the best run: the ratio says how close the most loaded run came to what the machine allows."""
    stages = _figures({1: 120.0, 4: 300.0}, (80.0, 150.0, 200.0))
    report = BenchReport("m", "clip.mp4", (1920, 1080), ("cnn",), stages, (_point(4, 150.0), _point(1, 108.0)))
    out = report.to_json()
    assert [(p["limit_fps"], p["limited_by"], p["ratio"]) for p in out["pipeline"]] == [
        (200.0, "inference", 0.75),
        (120.0, "decode", 0.9),
    ]
    assert (out["limit_streams"], out["limit_fps"], out["limited_by"]) == (4, 200.0, "inference")
    assert out["ratio_to_limit"] == 0.75
    assert out["cameras_at_25fps"] == 6  # the best run: 150 frames/s
    text = format_report(report)
    assert "limited by inference" in text and "pipeline / limit at 4 stream(s): 0.75" in text
    assert "OpenCV read()" not in text and out["pipeline"][0]["ratio_to_opencv_read"] is None  # not measured


def test_report_gives_the_ratio_to_opencv_read_alone_where_it_was_measured() -> None:
    stages = replace(_figures({4: 300.0}, (1000.0,)), decode_alone=(DecodePoint(4, 400.0, 250.0),))
    report = BenchReport("m", "clip.mp4", (1920, 1080), ("cnn",), stages, (_point(4, 275.0),))
    out = report.to_json()
    assert (out["ratio_to_limit"], out["pipeline"][0]["ratio_to_opencv_read"]) == (0.688, 1.1)
    text = format_report(report)
    assert "OpenCV read() alone, 4 threads      250.0 frames/s" in text
    assert "pipeline / OpenCV read() alone at 4 stream(s): 1.10" in text


def test_report_without_pipeline_gives_the_limit_at_most_decode_threads() -> None:
    report = BenchReport("m", "clip.mp4", (1920, 1080), ("cnn",), _figures({2: 110.0}, (300.0,)), ())
    out = report.to_json()
    assert (out["limit_streams"], out["limit_fps"], out["limited_by"]) == (2, 110.0, "decode")
    assert out["ratio_to_limit"] is None and out["cameras_at_25fps"] == 4


def test_median_rounds_keep_decode_alone_per_thread_count() -> None:
    rounds = [_figures({1: fps, 4: 3 * fps}, (200.0,)) for fps in (100.0, 140.0, 90.0)]
    median = _median_record(rounds)
    assert median.decode_alone == (DecodePoint(1, 100.0), DecodePoint(4, 300.0))


def test_make_clip_with_clip_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--make-clip", "1080p", "--clip", "x.mp4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--make-clip" in err and "--clip" in err


def test_make_clip_unknown_preset_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--make-clip", "8k"]) == 2
    assert "1080p" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "workers"), [("auto", "auto"), ("0", 0), ("3", 3)])
def test_workers_pass_through_to_the_capture_config(text: str, workers: int | str, tmp_path: Path) -> None:
    opts = replace(BenchOptions(models=(tmp_path / "m.onnx",)), workers=_workers(text))
    assert _config(opts).capture.workers == workers


@pytest.mark.parametrize("text", ["-1", "two", ""])
def test_workers_rejects_other_values(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--model", "m.onnx", "--make-clip", "720p", "--workers", text]) == 2
    assert "--workers" in capsys.readouterr().err


def test_cache_dir_follows_xdg(tmp_path: Path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "streamer"
    assert cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "streamer"
    assert cache_dir({}) == Path.home() / ".cache" / "streamer"


def test_make_clip_command_is_the_reference_encode(tmp_path: Path) -> None:
    cmd = ffmpeg_command(tmp_path / "out.mp4", (1920, 1080))
    want = ("-f lavfi -i testsrc2=size=1920x1080:rate=25 -t 8 -vf noise=alls=6:allf=t -c:v libx264 "
            f"-preset veryfast -b:v 6M -g 50 -bf 0 -pix_fmt yuv420p {tmp_path / 'out.mp4'}")  # fmt: skip
    assert " ".join(cmd).endswith(want)


@pytest.mark.skipif(ffmpeg_path() is None, reason="needs ffmpeg")
def test_make_clip_encodes_a_clip_of_that_size(tmp_path: Path) -> None:
    out = make_clip(tmp_path / "cache" / "tiny.mp4", (64, 48), seconds=0.4)
    cap = cv2.VideoCapture(str(out))
    try:
        ok, image = cap.read()
    finally:
        cap.release()
    assert ok and image.shape == (48, 64, 3)
    assert [p.name for p in out.parent.iterdir()] == ["tiny.mp4"]  # no temporary file left


def test_preset_clip_reuses_a_cached_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")  # no ffmpeg: a cached clip must not need it
    cached = tmp_path / "bench-1080p-testsrc2-25fps-8s.mp4"
    cached.write_bytes(b"cached")
    assert preset_clip("1080p", tmp_path) == cached
    with pytest.raises(ConfigError, match="needs ffmpeg"):
        preset_clip("720p", tmp_path)


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
        feeds = {
            "features": rng.standard_normal((batch, 3), dtype=np.float32),
            "h_in": rng.standard_normal((1, batch, 4), dtype=np.float32),
        }
        want = plain.run(feeds)
        for got in (bound.run(feeds), binding.run(feeds)):
            for name, value in want.items():
                np.testing.assert_allclose(got[name], value, rtol=1e-6)

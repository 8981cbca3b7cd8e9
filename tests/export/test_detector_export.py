"""A detector trained a few steps, exported, verified, evaluated and accepted by the daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from export.cli import main
from export.detector import DetectorConfig
from export.detector_onnx import DETECTOR_INT8, DETECTOR_ONNX
from export.detector_pipeline import run_export_detector, run_train_detector
from export.detector_verify import check_detector_parity
from export.manifest import check_manifest, read_manifest
from export.objects_demo import OBJECTS_CLIP, OBJECTS_LABELS
from export.onnx_io import read_spec
from export.ort_run import session
from export.scenes import OBJECT_CLASSES
from export.train_detector import DETECTOR_CHECKPOINT, DetectorTrainConfig, load_detector
from tests.support.procs import free_port
from tests.systemd.daemon import toml_dumps


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("detector")
    run_train_detector(replace(DetectorTrainConfig().quick(), steps=3), out, force=False)
    run_export_detector(out, int8=True, force=False)
    yield out


def test_files_checkpoint_and_manifest(tiny_detector: Path) -> None:
    for name in (DETECTOR_CHECKPOINT, DETECTOR_ONNX, DETECTOR_INT8, OBJECTS_CLIP, OBJECTS_LABELS):
        assert (tiny_detector / name).is_file(), name
    det = load_detector(tiny_detector)
    assert det.labels == OBJECT_CLASSES and det.config.steps == 3
    assert {"detection_map50", "detection_map50_95", "train_seconds"} <= set(det.figures)
    files = read_manifest(tiny_detector)["files"]
    assert files[DETECTOR_ONNX]["kind"] == "detector" and files[DETECTOR_INT8]["precision"] == "int8"
    assert check_manifest(tiny_detector) == []


def test_self_describing_metadata_and_output_layout(tiny_detector: Path) -> None:
    spec = read_spec(tiny_detector / DETECTOR_ONNX)
    assert spec.kind == "detector" and spec.labels == OBJECT_CLASSES
    cfg = DetectorConfig(len(OBJECT_CLASSES))
    assert spec.input is not None
    assert (spec.input.height, spec.input.width, spec.input.resize) == (cfg.height, cfg.width, "stretch")
    assert dict(spec.outputs) == {"boxes": "boxes"}
    for name in (DETECTOR_ONNX, DETECTOR_INT8):
        sess = session(tiny_detector / name)
        for n in (1, 3):
            (out,) = sess.run(["boxes"], {"image": np.zeros((n, 3, cfg.height, cfg.width), np.float32)})
            assert out.shape == (n, 4 + len(OBJECT_CLASSES), cfg.anchors) == (n, 8, 18 * 24), name
            assert np.isfinite(out).all() and ((out[:, 4:] >= 0) & (out[:, 4:] <= 1)).all()


def test_parity_passes_and_catches_a_swapped_file(tiny_detector: Path, tmp_path: Path) -> None:
    report = check_detector_parity(tiny_detector)
    assert report.ok, report
    assert {r.case for r in report.rows} == {"batch 1", "batch 16"}
    # The int8 file in place of the fp32 one: metadata still matches, the numbers and the manifest do not.
    for name in (DETECTOR_CHECKPOINT, OBJECTS_CLIP, OBJECTS_LABELS, "manifest.json"):
        (tmp_path / name).write_bytes((tiny_detector / name).read_bytes())
    (tmp_path / DETECTOR_ONNX).write_bytes((tiny_detector / DETECTOR_INT8).read_bytes())
    bad = check_detector_parity(tmp_path)
    assert not bad.ok and any("sha256" in p for p in bad.problems)


def test_daemon_check_accepts_it(tiny_detector: Path, tmp_path: Path) -> None:
    config = {
        "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}"},  # not the defaults: a daemon may hold them
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "models": {"objects": {"path": str(tiny_detector / DETECTOR_ONNX)}},
        "streams": [{"name": "objects", "source": str(tiny_detector / OBJECTS_CLIP)}],
    }
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml_dumps(config))
    out = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(cfg)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "detector" in out.stdout


def test_evaluate_reports_detection_figures(tiny_detector: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--models", str(tiny_detector), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("detection_map50", "detection_map50_95", "demo_detection_map50", "detection_map50_int8"):
        assert 0.0 <= figures[key] <= 1.0, key
    assert figures["detection_map50_95"] <= figures["detection_map50"]
    assert figures["detector_ms_per_frame_fp32_b1"] > 0 and figures["detection_heldout"]["clips"] == 3
    assert "frame_accuracy" not in figures  # no frame/sequence pair in this directory


def test_cli_bad_usage_is_one_line_exit_2(tiny_detector: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-detector", "--models", str(tiny_detector), "--steps", "0"]) == 2
    assert main(["export-detector", "--models", str(tiny_detector)]) == 2  # files exist, no --force
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("streamer-export: error: ") for line in err)
    assert "--force" in err[1]

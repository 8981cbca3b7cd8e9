"""A tiny train -> export -> verify round trip, metadata and manifest, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from export.cli import main
from export.manifest import check_manifest, sha256
from export.onnx_io import OPSET, read_metadata, read_spec, set_metadata
from export.verify import check_parity
from streamer.modelspec import ModelSpec


def test_parity_within_tolerance(tiny_models: Path) -> None:
    report = check_parity(tiny_models)
    assert report.ok, report
    outputs = {(r.model, r.output) for r in report.rows}
    assert ("frame_cnn.onnx", "embedding") in outputs and ("sequence_gru.onnx", "h_out") in outputs
    assert any(r.case.startswith("rollout 100") for r in report.rows)
    assert report.max_abs <= 1e-4


def test_files_are_single_checked_opset_models_with_dynamic_batch(tiny_models: Path) -> None:
    for name in ("frame_cnn.onnx", "sequence_gru.onnx", "frame_cnn.int8.onnx"):
        model = onnx.load(str(tiny_models / name))
        onnx.checker.check_model(model, full_check=True)
        assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
        for value in list(model.graph.input) + list(model.graph.output):
            dims = value.type.tensor_type.shape.dim
            batch_axis = 1 if value.name in ("h_in", "h_out") else 0
            assert dims[batch_axis].dim_param, f"{name}:{value.name} has a fixed batch axis"
    assert not list(tiny_models.glob("*.data"))


def test_metadata_round_trip(tiny_models: Path) -> None:
    frame = read_spec(tiny_models / "frame_cnn.onnx")
    assert frame.kind == "classifier" and frame.labels[0] == "empty"
    assert frame.input is not None and frame.input.name == "image" and frame.input.color_order == "RGB"
    assert frame.outputs == {"logits": "logits", "embedding": "embedding"}
    seq = read_spec(tiny_models / "sequence_gru.onnx")
    assert seq.kind == "sequence" and seq.state is not None and seq.features_input == "features"
    assert seq.feature_size is not None
    assert seq.state.input == "h_in" and seq.state.output == "h_out"
    assert read_spec(tiny_models / "frame_cnn.int8.onnx") == frame
    assert "streamer-export" in frame.producer


def test_metadata_write_read_identity(tmp_path: Path, tiny_models: Path) -> None:
    spec = read_spec(tiny_models / "sequence_gru.onnx")
    model = onnx.load(str(tiny_models / "sequence_gru.onnx"))
    set_metadata(model, spec.to_metadata())
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert ModelSpec.from_metadata(read_metadata(tmp_path / "m.onnx")) == spec


def test_manifest_records_hashes(tiny_models: Path) -> None:
    manifest = json.loads((tiny_models / "manifest.json").read_text())
    entry = manifest["files"]["frame_cnn.onnx"]
    assert entry["sha256"] == sha256(tiny_models / "frame_cnn.onnx")
    assert entry["kind"] == "classifier" and entry["spec"]["input_name"] == "image"
    assert check_manifest(tiny_models) == []
    demo = json.loads((tiny_models / "demo.json").read_text())
    assert demo["segments"][0]["start"] == 0 and demo["segments"][-1]["end"] == demo["frames"]


def test_cli_verify_passes_and_refuses_overwrite(tiny_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--models", str(tiny_models)]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["export", "--models", str(tiny_models)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["train", "--models", str(tiny_models), "--quick"]) == 2


def test_cli_verify_fails_on_tampered_file(tmp_path: Path, tiny_models: Path) -> None:
    for f in tiny_models.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    model = onnx.load(str(tmp_path / "sequence_gru.onnx"))
    bias = next(i for i in model.graph.initializer if i.name.endswith("bias") or "B" in i.name)
    arr = onnx.numpy_helper.to_array(bias).copy()
    arr += 0.01
    bias.CopyFrom(onnx.numpy_helper.from_array(arr, bias.name))
    onnx.save(model, str(tmp_path / "sequence_gru.onnx"))
    assert main(["verify", "--models", str(tmp_path)]) == 1


def test_cli_missing_models_is_usage_error(tmp_path: Path) -> None:
    assert main(["verify", "--models", str(tmp_path / "nowhere")]) == 2

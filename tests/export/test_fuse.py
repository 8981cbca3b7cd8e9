"""export.fuse: a uint8-input model with normalisation in the graph gives the float model's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from export.errors import ExportError
from export.fuse import fuse_uint8_input
from streamer.model_config import ModelConfig
from streamer.preprocess import Preprocessor
from streamer.runtime import load_model
from tests import tinymodels


def _with_normalisation(path: Path) -> Path:
    model = onnx.load(str(path))
    for p in model.metadata_props:
        if p.key == "mean":
            p.value = json.dumps([0.485, 0.456, 0.406])
        elif p.key == "std":
            p.value = json.dumps([0.229, 0.224, 0.225])
    onnx.save(model, str(path))
    return path


def test_fused_model_matches_float_model_on_real_pixels(tmp_path: Path) -> None:
    src = _with_normalisation(tinymodels.classifier(tmp_path / "cnn.onnx", size=(24, 32)))
    spec = fuse_uint8_input(src, tmp_path / "cnn.uint8.onnx")
    assert spec.input is not None and spec.input.dtype == "uint8"
    plain = load_model("f32", src, ModelConfig(path="x"), 4)
    fused = load_model("u8", tmp_path / "cnn.uint8.onnx", ModelConfig(path="x"), 4)
    assert fused.inputs["image"].type == "tensor(uint8)" and fused.spec.labels == plain.spec.labels
    assert plain.spec.input is not None and fused.spec.input is not None
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    x_f32, x_u8 = Preprocessor(plain.spec.input), Preprocessor(fused.spec.input)
    a, b = x_f32.buffer(), x_u8.buffer()
    x_f32(frame, a)
    x_u8(frame, b)
    want, got = plain.run({"image": a[None]}), fused.run({"image": b[None]})
    for name in ("logits", "embedding"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)


def test_refuses_a_model_that_is_uint8_already(tmp_path: Path) -> None:
    src = tinymodels.classifier(tmp_path / "cnn.onnx")
    fuse_uint8_input(src, tmp_path / "once.onnx")
    with pytest.raises(ExportError, match="uint8 already"):
        fuse_uint8_input(tmp_path / "once.onnx", tmp_path / "twice.onnx")

"""Model loading: metadata read back, spec checked against the graph, mismatches fail at load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from streamer.errors import ModelError
from streamer.model_config import ModelConfig
from streamer.runtime import Model, load_model
from tests import tinymodels


def load(path: Path, **cfg: Any) -> Model:
    return load_model("m", path, ModelConfig(path=str(path), **cfg), max_batch=4)


def test_metadata_round_trip(tmp_path: Path) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx", labels=("x", "y", "z"), size=(16, 24))
    m = load_model("m", p, ModelConfig(path=str(p)), max_batch=4)
    assert m.spec.kind == "classifier"
    assert m.spec.labels == ("x", "y", "z")
    assert m.spec.input is not None and (m.spec.input.height, m.spec.input.width) == (16, 24)
    assert m.provider == "CPUExecutionProvider"
    out = m.run({"image": np.ones((2, 3, 16, 24), np.float32)})
    assert out["logits"].shape == (2, 3)


def test_third_party_model_described_in_config(tmp_path: Path) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx", metadata=False, input_name="data")
    m = load_model(
        "m",
        p,
        ModelConfig(
            path=str(p),
            kind="classifier",
            labels=["r", "g", "b"],
            input_name="data",
            input_size=(32, 32),
            outputs={"logits": "logits"},
        ),
        max_batch=2,
    )
    assert m.spec.labels == ("r", "g", "b")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_size": (64, 64)}, "input 'image' has shape"),
        ({"input_name": "pixels"}, "input 'pixels' not in model inputs"),
        ({"labels": ["only", "two"]}, "expected [1, 2] (one score per label)"),
        ({"outputs": {"logits": "scores"}}, "output 'scores' (role logits) not in model outputs"),
        ({"layout": "NHWC"}, "input 'image' has shape"),
        ({"input_dtype": "uint8"}, "is tensor(float), spec says uint8"),
        ({"kind": "detector"}, "needs an output for role 'boxes'"),
    ],
)
def test_spec_mismatch_fails_at_load(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx")
    with pytest.raises(ModelError) as info:
        load(p, **overrides)
    assert message in str(info.value)
    assert str(info.value).startswith("models.m")


def test_missing_undescribed_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        load(tmp_path / "nope.onnx")
    bare = tinymodels.classifier(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(ModelError, match="model kind unknown"):
        load(bare)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        load(junk)


def test_sequence_model_state_checked(tmp_path: Path) -> None:
    p = tinymodels.sequence(tmp_path / "s.onnx", features=3, hidden=4)
    m = load_model("s", p, ModelConfig(path=str(p)), max_batch=3)
    assert m.spec.state is not None and m.spec.state.size == 4
    # Metadata that lies about the state size is caught against the graph's fixed dims.
    model = onnx.load(str(p))
    for prop in model.metadata_props:
        if prop.key == "state":
            prop.value = json.dumps({"input": "h_in", "output": "h_out", "layers": 1, "size": 5})
    onnx.save(model, str(p))
    with pytest.raises(ModelError, match="input 'h_in' has shape"):
        load(p)


def test_unavailable_provider_falls_back_to_cpu(tmp_path: Path) -> None:
    p = tinymodels.classifier(tmp_path / "c.onnx")
    m = load_model("m", p, ModelConfig(path=str(p), providers=["NoSuchExecutionProvider"]), max_batch=1)
    assert m.provider == "CPUExecutionProvider"

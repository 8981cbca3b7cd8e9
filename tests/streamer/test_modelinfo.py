"""``streamer check --model PATH``: what the daemon sees in a model and the keys it still needs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from streamer import cli
from streamer.config import parse_config
from streamer.graph import GraphFacts
from streamer.modelcheck import SessionInfo, TensorInfo
from streamer.modelinfo import describe, guess_kind
from streamer.modelset import load_models
from tests import tinymodels


def check_model(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["check", "--model", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def _table(out: str) -> str:
    """The suggested [models] table, comments kept (TOML comments)."""
    lines = out.split("config it still needs:\n", 1)[1].splitlines()
    return "\n".join(line.strip() for line in lines)


def test_bare_classifier_report_and_its_table_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tinymodels.classifier(tmp_path / "net.onnx", metadata=False, ending=("Softmax",), output_name="prob")
    code, out, _ = check_model(p, capsys)
    assert code == 0
    assert "  image: tensor(float) [N, 3, 32, 32]" in out
    assert "  prob: tensor(float) [N, 3] (batch 1: [1, 3]), final node Softmax" in out
    assert "metadata as spec fields: none" in out
    assert "kind = \"classifier\"  # guessed from 'prob' [1, 3]" in out
    assert "labels_file" in out and "(3 classes)" in out
    assert "'prob' ends in Softmax: its probabilities used as they are" in out
    # The table is TOML: with the labels file it asks for, it loads as it stands.
    (tmp_path / "labels.txt").write_text("red\ngreen\nblue\n")
    data = tomllib.loads(_table(out))
    model = load_models(parse_config(data, tmp_path, "suggested")).image[0].model
    assert model.spec.labels == ("red", "green", "blue") and model.spec.outputs["logits"] == "prob"


def test_detector_with_nms_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tinymodels.box_finder(tmp_path / "det.onnx", "nms", nms_node=True)
    _, out, _ = check_model(p, capsys)
    assert "graph: runs NonMaxSuppression" in out
    assert "kind = \"detector\"  # guessed from 'output0' [1, 16, 6]: [N, K, 6]: boxes after NMS" in out
    assert "outputs = { boxes = \"output0\" }  # of ['output0', 'selected']" in out


def test_self_describing_model_needs_only_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = check_model(tinymodels.classifier(tmp_path / "c.onnx"), capsys)
    assert "spec from metadata: complete (classifier, activation softmax (applied by the daemon; top-k))" in out
    assert "config it still needs" not in out


@pytest.mark.parametrize("kind", ["missing", "junk"])
def test_unusable_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    p = tmp_path / "m.onnx"
    if kind == "junk":
        p.write_bytes(b"\x08\x07garbage" * 50)
    code, out, err = check_model(p, capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("streamer: error: --model: ")


def test_symbolic_input_keeps_declared_shapes() -> None:
    info = SessionInfo(
        inputs={"x": TensorInfo("x", ("N", 3, "H", "W"), "tensor(float)")},
        outputs={"y": TensorInfo("y", ("N", "K"), "tensor(float)")},
        metadata={},
        run_shapes={},
    )
    out = "\n".join(describe(Path("m.onnx"), info, GraphFacts({"y": "Gemm"})))
    assert "input_size = [HEIGHT, WIDTH]  # the graph leaves it open" in out
    assert 'kind = "embedding"' in out  # [N, K] with K open tells nothing


@pytest.mark.parametrize(
    ("shape", "kind", "classes"),
    [
        ((1, 1000), "classifier", 1000),
        ((1, 84, 8400), "detector", 80),
        ((1, 25200, 85), "detector", 80),
        ((1, 300, 6), "detector", None),
        ((1, 1, 736, 736), "embedding", None),
    ],
)
def test_guess_kind(shape: tuple[int, ...], kind: str, classes: int | None) -> None:
    assert guess_kind(shape)[:2] == (kind, classes)

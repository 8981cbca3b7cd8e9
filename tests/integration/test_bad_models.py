"""Bad model input through the real command: exit 2 and one line naming the model key, never a traceback.

One row per refusal the daemon makes of a model (and of the model keys in config), each run as
``python -m streamer check`` (and a few as ``run``) on a small real ONNX model.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import tinymodels
from tests.integration.robust_rig import Ports, config_data, write_config

pytestmark = pytest.mark.integration

Case = Callable[[Path], dict[str, Any]]
DET = {"kind": "detector", "input_name": "images", "input_size": [64, 64], "outputs": {"boxes": "output0"}}
CLS = {"kind": "classifier", "labels": ["red", "green", "blue"]}


def _cls(d: Path, **kw: Any) -> str:
    return str(tinymodels.classifier(d / "c.onnx", metadata=False, embedding=False, **kw))


def _det(d: Path, fmt: str, classes: int, **kw: Any) -> str:
    labels = tuple(f"c{i}" for i in range(classes))
    return str(tinymodels.box_finder(d / "d.onnx", fmt, labels, **kw))


CASES: dict[str, tuple[Case, str]] = {
    "no kind": (lambda d: {"path": _cls(d)}, "models.m.kind: model kind unknown; set kind"),
    "no labels": (lambda d: {"path": _cls(d), "kind": "classifier"}, "models.m.labels: classifier model needs labels"),
    "more scores than labels": (
        lambda d: {"path": _cls(d), **CLS, "labels": ["a", "b"]},
        "models.m.labels: output 'logits' has shape [1, 3] at batch 1, expected [1, 2]",
    ),
    "two outputs, none named": (
        lambda d: {"path": str(tinymodels.classifier(d / "c.onnx", metadata=False)), **CLS},
        "models.m.outputs: classifier model needs an output for role 'logits'",
    ),
    "segmentation map as detector": (
        lambda d: {
            "path": str(tinymodels.probability_map(d / "s.onnx")),
            **DET,
            "labels": ["text"],
            "input_name": "x",
            "input_size": [96, 96],
            "outputs": {"boxes": "maps"},
        },
        "models.m.format: output 'maps' has shape [1, 1, 96, 96], which fits no detector format",
    ),
    "80 classes, 3 labels": (
        lambda d: {"path": _det(d, "yolov8", 80, anchors=8400), **DET, "labels": ["a", "b", "c"]},
        "it looks like yolov8 with 80 classes: give 80 labels",
    ),
    "yolov5 named yolov8": (
        lambda d: {"path": _det(d, "yolov5", 3), **DET, "labels": ["a", "b", "c"], "format": "yolov8"},
        "models.m.labels: output 'output0' [1, 16, 8] as yolov8 holds 12 classes but 3 labels are given",
    ),
    "NMS node, other layout": (
        lambda d: {"path": _det(d, "yolov8", 2, nms_node=True), **DET, "labels": ["a", "b"]},
        "models.m.format: the graph runs NonMaxSuppression",
    ),
    "one class, yolov5 or nms": (
        lambda d: {"path": _det(d, "nms", 1), **DET, "labels": ["a"]},
        'models.m.format: output \'output0\' [1, 16, 6] fits "yolov5" or "nms"; set format',
    ),
    "sigmoid over Softmax": (
        lambda d: {"path": _cls(d, ending=("Softmax",)), **CLS, "activation": "sigmoid"},
        "models.m.activation: output 'logits' already ends in Softmax",
    ),
    "none over logits": (
        lambda d: {"path": _cls(d, bias=-2.0), **CLS, "activation": "none"},
        "models.m.activation: output 'logits' gave -2 on a warm-up run, not a probability",
    ),
    "activation on a detector": (
        lambda d: {"path": _det(d, "yolov8", 2), **DET, "labels": ["a", "b"], "activation": "softmax"},
        "models.m.activation: applies to classifiers, not a detector",
    ),
    "huge embedding": (
        lambda d: {"path": str(tinymodels.probability_map(d / "s.onnx", size=(368, 368))), "kind": "embedding"},
        "models.m.outputs: output 'maps' has 135424 values, about 1625600 bytes of JSON per message",
    ),
    "unknown format": (lambda d: {"path": _cls(d), **CLS, "format": "ssd"}, "models.m.format: Input should be"),
    "pad_value out of range": (
        lambda d: {"path": _cls(d), **CLS, "resize": "pad", "pad_value": 300},
        "models.m.pad_value: Input should be less than or equal to 255",
    ),
    "labels and labels_file": (
        lambda d: {"path": _cls(d), **CLS, "labels_file": "l.txt"},
        "models.m: give labels or labels_file, not both",
    ),
    "missing labels_file": (
        lambda d: {"path": _cls(d), "kind": "classifier", "labels_file": "nope.txt"},
        "models.m.labels_file: cannot read",
    ),
}


def _streamer(command: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer", command, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _assert_one_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("streamer: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert expected in errors[0], errors[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_refuses_with_one_line(tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    path = write_config(tmp_path / "c.toml", config_data(Ports(), {"m": make(tmp_path)}, []))
    _assert_one_line(_streamer("check", path), expected)


@pytest.mark.parametrize("case", ["segmentation map as detector", "huge embedding", "sigmoid over Softmax"])
def test_run_refuses_the_same_way(tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    path = write_config(tmp_path / "c.toml", config_data(Ports(), {"m": make(tmp_path)}, []))
    _assert_one_line(_streamer("run", path), expected)

"""``--width-mult``: a wider FrameCNN trains, exports and verifies; the multiplier lives in the checkpoint."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from export.checkpoint import FRAME_CHECKPOINT, load_pair
from export.cli import main


def _parameters(path: Path) -> int:
    return sum(onnx.numpy_helper.to_array(i).size for i in onnx.load(str(path)).graph.initializer)


def test_wider_frame_cnn_trains_exports_and_verifies(
    tmp_path: Path, tiny_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = str(tmp_path)
    train = ["train", "--models", models, "--quick", "--width-mult", "1.5", "--cnn-steps", "4", "--gru-steps", "4"]
    assert main(train) == 0
    assert main(["export", "--models", models]) == 0
    assert main(["verify", "--models", models]) == 0
    assert "PASS" in capsys.readouterr().out
    pair = load_pair(tmp_path)
    assert pair.config.width_mult == 1.5 and pair.frame.cfg.width_mult == 1.5
    # Channels 24/48/96/192 become 32/72/144/288: over twice the weights of width 1.0.
    assert _parameters(tmp_path / "frame_cnn.onnx") > 2 * _parameters(tiny_models / "frame_cnn.onnx")


@pytest.mark.parametrize("value", ["0", "-1", "4.5", "nan"])
@pytest.mark.parametrize("command", ["train", "all"])
def test_bad_width_mult_is_usage_error(
    tmp_path: Path, command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--models", str(tmp_path), "--quick", f"--width-mult={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--width-mult must be in (0, 4]" in err
    assert not list(tmp_path.iterdir())


def test_checkpoint_without_width_mult_loads_as_reference_width(tmp_path: Path, tiny_models: Path) -> None:
    """Checkpoints written before the option existed rebuild the width-1.0 network."""
    for f in tiny_models.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    raw = torch.load(tmp_path / FRAME_CHECKPOINT, weights_only=True)
    del raw["train_config"]["width_mult"], raw["net"]["width_mult"]
    torch.save(raw, tmp_path / FRAME_CHECKPOINT)
    pair = load_pair(tmp_path)
    assert pair.config.width_mult == 1.0 and pair.frame.cfg.width_mult == 1.0

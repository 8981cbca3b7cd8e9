"""The batch cost model: a line through the per-size running means, and the patience it implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.batchcost import BatchCost, calibrate
from streamer.config import ModelConfig
from streamer.runtime import load_model
from tests import tinymodels


def test_line_needs_two_sizes_then_fits_them() -> None:
    cost = BatchCost()
    assert cost.line() is None and cost.patience(1) is None
    cost.observe(1, 0.0012)
    assert cost.line() is None
    for n in (2, 4, 8):
        cost.observe(n, 0.001 + 0.0002 * n)
    fixed, per_frame = cost.line() or (0.0, 0.0)
    assert fixed == pytest.approx(0.001) and per_frame == pytest.approx(0.0002)


def test_patience_is_long_for_a_fixed_cost_and_zero_for_a_per_frame_one() -> None:
    gpu_like = BatchCost()  # a batch of 8 costs little more than a batch of 1
    gpu_like.observe(1, 0.0050)
    gpu_like.observe(8, 0.0057)
    fixed, per_frame = gpu_like.line() or (0.0, 0.0)
    assert gpu_like.patience(1) == pytest.approx((fixed - per_frame) / 2)
    one, four = gpu_like.patience(1), gpu_like.patience(4)
    assert one is not None and four is not None and one > four > 0.0
    cpu_like = BatchCost()  # eight frames cost eight times one frame
    cpu_like.observe(1, 0.0003)
    cpu_like.observe(8, 0.0024)
    assert cpu_like.patience(1) == 0.0


def test_running_means_follow_the_runs_and_never_go_negative() -> None:
    cost = BatchCost()
    cost.observe(1, 0.002)
    cost.observe(8, 0.001)  # a bigger batch measured faster (noise): per-frame clamps at 0
    fixed, per_frame = cost.line() or (0.0, 1.0)
    assert fixed == pytest.approx(0.0015) and per_frame == 0.0
    for _ in range(200):
        cost.observe(1, 0.004)
    fixed, _ = cost.line() or (0.0, 0.0)
    assert fixed == pytest.approx(0.0025, rel=0.01)  # 1 now near 0.004, 8 still 0.001


def test_calibrate_times_real_sessions_at_both_sizes(tmp_path: Path) -> None:
    path = tinymodels.classifier(tmp_path / "c.onnx")
    model = load_model("c", path, ModelConfig(path=str(path)), 8)
    cost = calibrate([model], 8)
    fit = cost.line()
    assert fit is not None and fit[0] + fit[1] > 0.0
    assert calibrate([model], 1).line() is None  # one size only: unknown, the deadline rules

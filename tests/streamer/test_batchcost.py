"""The batch cost model: a line through the per-size running means, and the patience it implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.batchcost import BatchCost, CostLine, fit_line
from streamer.model_config import ModelConfig
from streamer.modelset import calibrate
from streamer.runtime import load_model
from tests import tinymodels


def test_fit_line_needs_two_sizes_then_fits_them() -> None:
    assert fit_line({}) is None and fit_line({1: 0.0012}) is None
    line = fit_line({n: 0.001 + 0.0002 * n for n in (1, 2, 4, 8)})
    assert line is not None
    assert line.per_run == pytest.approx(0.001) and line.per_frame == pytest.approx(0.0002)
    noisy = fit_line({1: 0.002, 8: 0.001})  # a bigger batch measured faster: per-frame clamps at 0
    assert noisy is not None and noisy.per_run == pytest.approx(0.0015) and noisy.per_frame == 0.0


def test_patience_is_long_for_a_per_run_cost_and_zero_for_a_per_frame_one() -> None:
    gpu_like = CostLine(per_run=0.0049, per_frame=0.0001)  # a batch of 8 costs little more than one
    assert gpu_like.patience(1) == pytest.approx((0.0049 - 0.0001) / 2)
    assert gpu_like.patience(1) > gpu_like.patience(4) > 0.0
    cpu_like = CostLine(per_run=0.00003, per_frame=0.0003)  # eight frames cost eight times one
    assert cpu_like.patience(1) == 0.0


def test_running_means_follow_the_runs() -> None:
    cost = BatchCost()
    assert cost.line() is None and cost.patience(1) is None
    cost.observe(1, 0.0003)
    assert cost.line() is None
    cost.observe(8, 0.0024)
    assert cost.patience(1) == 0.0
    for _ in range(300):  # the machine got slower at batch 1 only: a per-run cost appears
        cost.observe(1, 0.0006)
    line = cost.line()
    assert line is not None and line.seconds(1) == pytest.approx(0.0006, rel=0.02)
    per_frame = (0.0024 - 0.0006) / 7
    assert cost.patience(1) == pytest.approx((0.0006 - 2 * per_frame) / 2, rel=0.05)


def test_one_slow_run_does_not_make_waiting_look_worthwhile() -> None:
    """A preempted run, or the first run of a new batch shape, must not turn a CPU line into a GPU one."""
    cost = BatchCost()
    cost.observe(1, 0.00033)
    cost.observe(8, 0.00242)
    cost.observe(2, 0.005)  # first run at batch 2, 8x the expected 0.63 ms
    cost.observe(3, 0.050)
    assert cost.patience(1) == pytest.approx(0.0, abs=2e-5)
    line = cost.line()
    assert line is not None and line.seconds(2) < 0.0007


def test_calibrate_times_real_sessions_at_both_sizes(tmp_path: Path) -> None:
    path = tinymodels.classifier(tmp_path / "c.onnx")
    model = load_model("c", path, ModelConfig(path=str(path)), 8)
    line = calibrate([model], 8).line()
    assert line is not None and line.seconds(8) > 0.0
    assert calibrate([model], 1).line() is None  # one size only: unknown, the deadline rules

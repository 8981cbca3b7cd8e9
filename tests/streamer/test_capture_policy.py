"""Capture decisions without a camera: a run of undecodable frames, and frames a file lost."""

from __future__ import annotations

import pytest

from streamer.capture_policy import CorruptRun, file_problem, missing_frames


def test_a_run_ended_by_a_frame_is_that_many_corrupt_frames() -> None:
    run = CorruptRun(limit=5, window_s=3.0)
    assert run.recovered() == 0
    assert not run.failed(0.0)
    assert not run.failed(0.04)
    assert run.recovered() == 2
    assert run.recovered() == 0  # counted once


def test_a_run_past_its_length_or_its_time_means_the_source_is_gone() -> None:
    run = CorruptRun(limit=3, window_s=3.0)
    assert [run.failed(0.001 * i) for i in range(4)] == [False, False, False, True]
    run.recovered()
    slow = CorruptRun(limit=100, window_s=1.0)
    assert not slow.failed(10.0)
    assert not slow.failed(10.9)
    assert slow.failed(11.0)


@pytest.mark.parametrize(
    ("frames", "declared", "missing", "problem"),
    [
        (150, 150, 0, None),
        (140, 150, 0, None),  # within the container's rounding
        (50, 150, 100, "ended after 50 of 150 frames: the file is truncated or corrupt"),
        (50, None, 0, None),  # nothing declared: nothing known to be missing
        (1, 150, 149, "only one frame: a still image, not a video"),
        (0, 150, 150, "no decodable frames"),
    ],
)
def test_missing_frames_and_file_problems(frames: int, declared: int | None, missing: int, problem: str | None) -> None:
    assert missing_frames(frames, declared) == missing
    assert file_problem(frames, declared) == problem

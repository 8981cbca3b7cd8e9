"""The scene generator: deterministic per seed, labelled consistently with what it draws."""

from __future__ import annotations

import numpy as np
import pytest

from export.datasets import synthetic_clips, synthetic_streams
from export.scene_motion import MOTIONS, plan_segment
from export.scenes import FRAME_CLASSES, Scene, Segment, random_segments


def _render(seed: list[int], segments: list[Segment]) -> tuple[np.ndarray, np.ndarray]:
    scene = Scene(seed, segments, jpeg_prob=0.5)
    return np.stack(list(scene.frames())), scene.labels().centers


def test_same_seed_same_pixels_and_labels() -> None:
    segs = [Segment("star", "zigzag", 12), Segment("empty", "none", 5), Segment("circle", "left", 10)]
    a, ca = _render([3, 1, 4], segs)
    b, cb = _render([3, 1, 4], segs)
    assert a.shape == (27, 240, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    np.testing.assert_array_equal(ca, cb)


def test_different_seed_different_scene() -> None:
    segs = [Segment("square", "still", 6)]
    a, _ = _render([0, 0, 1], segs)
    b, _ = _render([0, 0, 2], segs)
    assert not np.array_equal(a, b)


def test_sets_are_deterministic_and_splits_disjoint() -> None:
    one = synthetic_streams(5, 0, 2, 30, (72, 96))
    two = synthetic_streams(5, 0, 2, 30, (72, 96))
    other = synthetic_streams(5, 1, 2, 30, (72, 96))
    assert np.array_equal(one.images, two.images)
    assert np.array_equal(one.motion_labels, two.motion_labels)
    assert not np.array_equal(one.images, other.images)


def test_label_space() -> None:
    assert FRAME_CLASSES[0] == "empty" and len(FRAME_CLASSES) - 1 >= 4
    assert MOTIONS[0] == "none" and len(MOTIONS) - 1 >= 5


@pytest.mark.parametrize(
    ("motion", "axis", "sign"),
    [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)],
)
def test_directional_tracks_move_the_right_way(motion: str, axis: int, sign: int) -> None:
    for i in range(5):
        track = plan_segment(np.random.default_rng(i), motion, 60, 40.0, size=(320, 240), start=None)
        travel = track.xy[-1, axis] - track.xy[0, axis]
        assert sign * travel > 1.0 * 59  # at least MIN_SPEED px per frame, minus jitter
        assert (track.xy >= track.radius).all()
        assert (track.xy[:, 0] <= 320 - track.radius).all() and (track.xy[:, 1] <= 240 - track.radius).all()


def test_still_stays_put_and_zigzag_reverses() -> None:
    still = plan_segment(np.random.default_rng(0), "still", 60, 40.0, size=(320, 240), start=None)
    assert np.ptp(still.xy, axis=0).max() < 8
    zig = plan_segment(np.random.default_rng(0), "zigzag", 60, 40.0, size=(320, 240), start=None)
    dy = np.sign(np.diff(zig.xy[:, 1]))
    assert (np.diff(dy[np.abs(np.diff(zig.xy[:, 1])) > 0.8]) != 0).any()


def test_segments_cover_the_stream_and_labels_follow_them() -> None:
    segs = random_segments(np.random.default_rng(1), 200, 20, 60)
    assert sum(s.length for s in segs) == 200
    labels = Scene([1], segs).labels()
    starts = np.flatnonzero(labels.segment_starts)
    assert len(starts) == len(segs)
    for seg, start in zip(segs, starts, strict=True):
        assert FRAME_CLASSES[labels.frame_labels[start]] == seg.shape
        assert MOTIONS[labels.motion_labels[start]] == seg.motion
        assert np.isnan(labels.centers[start, 0]) == (seg.shape == "empty")


def test_clips_cover_every_motion() -> None:
    clips = synthetic_clips(0, 2, 14, 4, (72, 96))
    assert set(clips.motion_labels.tolist()) == set(range(len(MOTIONS)))
    empty = clips.frame_labels == 0
    assert np.array_equal(empty, clips.motion_labels == 0)

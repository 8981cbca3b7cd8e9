"""Multi-object scenes: deterministic, boxes that fit what is drawn, objects that enter, cross and leave."""

from __future__ import annotations

import numpy as np
import pytest

from export.object_data import MIN_VISIBILITY, render_detection_set, targets
from export.object_motion import OBJECT_MOTIONS, plan_object
from export.scenes import OBJECT_CLASSES
from export.scenes_objects import MAX_OBJECTS, ObjectScene, ObjectTruth


def _truths(scene: ObjectScene) -> list[tuple[ObjectTruth, ...]]:
    return [f.objects for f in scene.frames()]


def test_same_seed_same_frames_and_truth_and_any_frame_alone() -> None:
    a = ObjectScene([4, 2], 30, jpeg_prob=1.0)
    b = ObjectScene([4, 2], 30, jpeg_prob=1.0)
    fa, fb = list(a.frames()), list(b.frames())
    assert all(np.array_equal(x.image, y.image) and x.objects == y.objects for x, y in zip(fa, fb, strict=True))
    alone = ObjectScene([4, 2], 30, jpeg_prob=1.0).frame(17)  # rendered without the 17 before it
    assert np.array_equal(alone.image, fa[17].image) and alone.objects == fa[17].objects
    assert not np.array_equal(ObjectScene([4, 3], 30).frame(0).image, fa[0].image)


def test_truth_is_well_formed_over_many_scenes() -> None:
    counts = []
    for i in range(12):
        scene = ObjectScene([0, 9, i], 60)
        for objs in _truths(scene):
            counts.append(len(objs))
            assert len(objs) <= MAX_OBJECTS
            assert len({o.id for o in objs}) == len(objs)
            for o in objs:
                x1, y1, x2, y2 = o.box
                assert 0 <= x1 < x2 <= scene.width and 0 <= y1 < y2 <= scene.height
                assert o.label in OBJECT_CLASSES and o.motion in OBJECT_MOTIONS
                assert 0 < o.visibility <= 1
    assert min(counts) == 0 and max(counts) >= 6


def test_initial_objects_are_honoured() -> None:
    assert len(ObjectScene([1], 5, initial=0).frame(0).objects) == 0
    assert len(ObjectScene([1], 5, initial=8).frame(0).objects) >= 6  # a few may start outside, walking in


def test_boxes_fit_the_drawn_pixels() -> None:
    """On a black, noiseless, pole-less camera, an object alone lights its box's edges and nothing beyond."""
    checked = 0
    for i in range(8):
        scene = ObjectScene([2, 7, i], 40, initial=4)
        scene.background = np.zeros_like(scene.background)
        scene.noise_sigma, scene.pole, scene.jpeg_quality = 0.0, None, None
        for t in range(0, 40, 7):
            frame = scene.frame(t)
            lit = frame.image.max(axis=2).astype(int)
            for o in frame.objects:
                others = [p.box for p in frame.objects if p.id != o.id]
                if o.visibility < 1 or any(_overlap(o.box, b, margin=4) for b in others):
                    continue
                x1, y1, x2, y2 = (int(v) for v in o.box)
                assert o.box == (x1, y1, x2, y2)  # whole pixels
                inner = lit[y1:y2, x1:x2]
                peak = inner.max()
                ring = lit[max(0, y1 - 3) : y2 + 3, max(0, x1 - 3) : x2 + 3].copy()
                ring[y1 - max(0, y1 - 3) : y2 - max(0, y1 - 3), x1 - max(0, x1 - 3) : x2 - max(0, x1 - 3)] = 0
                assert ring.max() < peak * 0.3, f"a well-covered pixel outside the box of {o}"
                for edge in (inner[0], inner[-1], inner[:, 0], inner[:, -1]):
                    assert edge.max() > 0, f"an edge of the box of {o} is dark"
                checked += 1
    assert checked >= 20


def _overlap(a: tuple[float, ...], b: tuple[float, ...], margin: float) -> bool:
    return a[0] - margin < b[2] and b[0] - margin < a[2] and a[1] - margin < b[3] and b[1] - margin < a[3]


def test_objects_enter_leave_move_their_way_and_get_hidden() -> None:
    births, deaths, hidden = 0, 0, 0
    moves: dict[str, list[float]] = {"left": [], "right": [], "up": [], "down": []}
    for i in range(6):
        truths = _truths(ObjectScene([3, 1, i], 150))
        first = {o.id for o in truths[0]}
        last = {o.id for o in truths[-1]}
        seen: dict[int, list[tuple[int, ObjectTruth]]] = {}
        for t, objs in enumerate(truths):
            for o in objs:
                seen.setdefault(o.id, []).append((t, o))
                x1, y1, x2, y2 = o.box
                inside = x1 > 2 and y1 > 2 and x2 < 318 and y2 < 238
                hidden += inside and o.visibility < 0.9  # covered by another object or the pole
        births += len(set(seen) - first)
        deaths += len(set(seen) - last)
        for track in seen.values():
            (t0, a), (t1, b) = track[0], track[-1]
            if a.motion in moves and t1 - t0 >= 10 and a.visibility == b.visibility == 1:
                axis = 0 if a.motion in ("left", "right") else 1
                delta = (b.box[axis] + b.box[axis + 2] - a.box[axis] - a.box[axis + 2]) / 2
                moves[a.motion].append(delta)
    assert births >= 3 and deaths >= 3 and hidden >= 5
    for motion, sign in (("left", -1), ("right", 1), ("up", -1), ("down", 1)):
        assert all(sign * d > 0 for d in moves[motion]), motion


@pytest.mark.parametrize("motion", ["left", "right", "up", "down", "zigzag"])
def test_entering_objects_start_outside_and_walk_in(motion: str) -> None:
    path = plan_object(np.random.default_rng(0), motion, 20.0, birth=5, total=200, size=(320, 240), enter=True)
    x, y = path.xy[0]
    assert x <= 0 or x >= 320 or y <= 0 or y >= 240
    assert path.birth == 5 and path.death <= 200


def test_detection_set_targets_are_scaled_and_flag_hidden_objects() -> None:
    data = render_detection_set([[0, 5, 0], [0, 5, 1]], 20, (128, 160), frames_per_clip=4)
    assert data.images.shape == (8, 128, 160, 3) and data.num_clips == 2
    for i, objs in enumerate(data.truths):
        boxes, classes, ignore = targets(objs, (0.5, 128 / 240))
        np.testing.assert_array_equal(boxes, data.boxes[i])
        for j, o in enumerate(objs):
            assert classes[j] == OBJECT_CLASSES.index(o.label)
            assert ignore[j] == (o.visibility < MIN_VISIBILITY)
            np.testing.assert_allclose(boxes[j], np.array(o.box) * [0.5, 128 / 240, 0.5, 128 / 240], rtol=1e-5)
        assert (classes[len(objs) :] == -1).all()

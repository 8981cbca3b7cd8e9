"""Training and serving see the same pixels: export's preprocessing against the daemon's, on real frames."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from export.datasets import MEAN, STD, normalise, to_model_input
from export.scenes import Scene, random_segments
from streamer.modelspec import InputSpec
from streamer.preprocess import Preprocessor


def _frames(width: int, height: int) -> list[np.ndarray]:
    """A few rendered scene frames (the training data's own kind) at a camera size."""
    scene = Scene(7, random_segments(np.random.default_rng(7), 4, 4, 4), size=(height, width))
    return list(itertools.islice(scene.frames(), 4))


@pytest.mark.parametrize(("src", "dst"), [((320, 240), (96, 72)), ((1920, 1080), (96, 72)), ((1280, 720), (224, 224))])
def test_export_preprocessing_equals_the_daemons(src: tuple[int, int], dst: tuple[int, int]) -> None:
    w, h = dst
    spec = InputSpec("x", height=h, width=w, layout="NCHW", color_order="RGB", mean=MEAN, std=STD)
    daemon = Preprocessor(spec)
    for frame in _frames(*src):
        out = daemon.buffer()
        daemon(frame, out)
        trained_on = normalise(to_model_input(frame, h, w)[None])[0]
        np.testing.assert_allclose(out, trained_on, rtol=0, atol=1e-5)

"""Scoring a classifier's output by its activation: top-k, multi-label, already-probabilities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamer.modelspec import Activation, ModelSpec
from streamer.postprocess import above, classify, sigmoid, softmax, top_k

SPEC = ModelSpec(kind="classifier", labels=("cat", "dog", "car"), outputs={"logits": "y"})


def test_softmax_is_stable_and_normalised() -> None:
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]], dtype=np.float32))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)


def test_sigmoid_matches_the_logistic_function_without_overflow() -> None:
    x = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0], dtype=np.float32)
    with np.errstate(all="raise"):
        got = sigmoid(x)
    np.testing.assert_allclose(got[1:4], 1 / (1 + np.exp(-x[1:4].astype(np.float64))), rtol=1e-6)
    assert got[0] == 0.0 and got[-1] == 1.0


def test_top_k_orders_and_names() -> None:
    out = top_k(np.array([0.1, 0.6, 0.3], dtype=np.float32), ["a", "b"], 5)
    assert [c.label for c in out] == ["b", "class_2", "a"]
    assert out[0].score == pytest.approx(0.6)


def test_above_keeps_every_label_over_the_threshold_best_first() -> None:
    out = above(np.array([0.3, 0.9, 0.1, 0.5], dtype=np.float32), ["a", "b", "c", "d"], 0.3)
    assert [(c.label, c.score) for c in out] == [("b", 0.9), ("d", 0.5), ("a", 0.3)]
    assert above(np.array([0.1], dtype=np.float32), ["a"], 0.5) == ()


LOGITS = np.array([2.0, 0.5, -1.0], dtype=np.float32)
PROBS = np.array([0.95, 0.04, 0.01], dtype=np.float32)  # what a graph ending in Softmax gives


@pytest.mark.parametrize(
    ("activation", "in_graph", "row", "expected"),
    [
        # Logits: the daemon's softmax.
        (Activation.SOFTMAX, False, LOGITS, [("cat", 0.786), ("dog", 0.175)]),
        # A graph ending in Softmax: its probabilities as they are (not capped at e/(e+1) = 0.731).
        (Activation.SOFTMAX, True, PROBS, [("cat", 0.95), ("dog", 0.04)]),
        (Activation.NONE, False, PROBS, [("cat", 0.95), ("dog", 0.04)]),
        # Multi-label: every label whose sigmoid is at least 0.25, however many.
        (Activation.SIGMOID, False, LOGITS, [("cat", 0.881), ("dog", 0.622), ("car", 0.269)]),
        (Activation.SIGMOID, True, np.array([0.9, 0.2, 0.7], np.float32), [("cat", 0.9), ("car", 0.7)]),
    ],
)
def test_classify_by_activation(
    activation: Activation, in_graph: bool, row: np.ndarray, expected: list[tuple[str, float]]
) -> None:
    spec = dataclasses.replace(SPEC, activation=activation, activation_in_graph=in_graph)
    out = classify(row, spec, k=2, confidence=0.25)
    assert [(c.label, round(c.score, 3)) for c in out] == expected

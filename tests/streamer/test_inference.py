"""The inference worker on tiny real models: batches in, one result per frame out, state per stream.

The classifier scores a frame by its mean colour and the sequence model is a one-step tanh cell
(``tests/tinymodels.py``), both run by real ONNX Runtime sessions; no process is started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from streamer.batcher import Batcher, Policy
from streamer.config import PipelineConfig, parse_config
from streamer.inference import InferenceWorker
from streamer.modelset import ModelSet, load_models
from streamer.prepare import FramePreparer
from streamer.records import DropReason, Frame, FrameInfo, Prepared, Result
from tests import tinymodels

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


class Recorder:
    """InferenceEvents, recorded."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.done: list[str] = []
        self.drops: list[tuple[str, DropReason]] = []
        self.tracking: list[tuple[str, int, int, int]] = []
        self.object_step_counts: list[tuple[str, int]] = []

    def inferred(self, model: str, seconds: float, batch: int) -> None:
        assert seconds >= 0.0
        self.runs.append((model, batch))

    def processed(self, stream: str) -> None:
        self.done.append(stream)

    def dropped(self, stream: str, reason: DropReason) -> None:
        self.drops.append((stream, reason))

    def tracked(self, stream: str, alive: int, started: int, ended: int) -> None:
        self.tracking.append((stream, alive, started, ended))

    def object_steps(self, stream: str, steps: int) -> None:
        self.object_step_counts.append((stream, steps))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> ModelSet:
    d = tmp_path_factory.mktemp("models")
    tinymodels.classifier(d / "cnn.onnx", labels=("red", "green", "blue"), size=(16, 16))
    tinymodels.sequence(d / "rnn.onnx", labels=("still", "moving"), features=3, hidden=4)
    data = {
        "models": {"cnn": {"path": "cnn.onnx"}, "rnn": {"path": "rnn.onnx", "features": "cnn"}},
    }
    return load_models(parse_config(data, d, "test"))


class Rig:
    def __init__(self, models: ModelSet) -> None:
        self.events = Recorder()
        self.results: list[Result] = []
        self.batcher = Batcher(self.events.dropped)
        cfg = PipelineConfig(max_batch=4, state_reset_gap_s=2.0)
        self.worker = InferenceWorker(models, self.batcher, cfg, self.results.append, self.events)
        specs = {im.model.name: im.model.spec.input for im in models.image if im.model.spec.input is not None}
        self.preparer = FramePreparer(specs, pool_size=2)

    def frame(self, stream: str, seq: int, colour: str, *, epoch: int = 0, t: float | None = None) -> Prepared:
        image = np.empty((24, 32, 3), np.uint8)
        image[:] = BGR[colour]
        t_mono = float(seq) * 0.04 if t is None else t
        return self.preparer(Frame(FrameInfo(stream, seq, epoch, 1.7e9 + t_mono, t_mono, 32, 24), image))


@pytest.fixture
def rig(models: ModelSet) -> Rig:
    return Rig(models)


def test_one_result_per_frame_in_batch_order_with_each_models_answer(rig: Rig) -> None:
    batch = [rig.frame("a", 0, "red"), rig.frame("b", 0, "green"), rig.frame("c", 0, "blue")]
    results = rig.worker.process(batch)
    assert [r.info.stream for r in results] == ["a", "b", "c"]
    assert [r.outputs[0].top[0].label for r in results] == ["red", "green", "blue"]
    assert all(r.outputs[0].model == "cnn" and r.outputs[0].kind == "classifier" for r in results)
    assert results[0].outputs[0].top[0].score == pytest.approx(1.0, abs=1e-3)  # softmax of (10, 0, 0)
    assert [len(r.outputs[0].top) for r in results] == [3, 3, 3]  # top_k defaults to 3 labels
    assert all(r.sequence is not None and r.sequence.model == "rnn" and r.sequence.steps == 1 for r in results)
    assert rig.events.runs == [("cnn", 3), ("rnn", 3)]


def test_frame_buffers_go_back_to_their_pool_once_copied(rig: Rig) -> None:
    rig.batcher.register("a", Policy.LATEST, rig.preparer.release)
    for seq in range(6):  # a pool of two buffer sets serves any number of frames in turn
        rig.worker.process([rig.frame("a", seq, "red")])
    assert rig.preparer.allocated == 2


def test_sequence_state_is_kept_per_stream(rig: Rig) -> None:
    steps: dict[str, list[int]] = {"a": [], "b": []}
    for seq in range(3):
        batch = [rig.frame("a", seq, "red")] + ([rig.frame("b", seq, "blue")] if seq < 2 else [])
        for r in rig.worker.process(batch):
            assert r.sequence is not None
            steps[r.info.stream].append(r.sequence.steps)
    assert steps == {"a": [1, 2, 3], "b": [1, 2]}


def test_a_stream_scores_the_same_alone_or_batched_with_others(models: ModelSet) -> None:
    colours = ["red", "red", "green", "blue", "blue", "green"]
    alone, mixed = Rig(models), Rig(models)
    solo = [alone.worker.process([alone.frame("a", i, c)])[0] for i, c in enumerate(colours)]
    together = []
    for i, c in enumerate(colours):
        others = [mixed.frame("b", i, "green"), mixed.frame("c", i, "red")]
        together.append(mixed.worker.process([others[0], mixed.frame("a", i, c), others[1]])[1])
    for x, y in zip(solo, together, strict=True):
        assert x.sequence is not None and y.sequence is not None
        assert (x.sequence.label, x.sequence.steps) == (y.sequence.label, y.sequence.steps)
        assert x.sequence.score == pytest.approx(y.sequence.score, abs=1e-6)


@pytest.mark.parametrize(
    ("epoch", "t", "why"),
    [(1, 0.12, "a new epoch (reconnect or file loop)"), (0, 0.08 + 2.5, "a gap longer than state_reset_gap_s")],
)
def test_sequence_state_restarts(rig: Rig, epoch: int, t: float, why: str) -> None:
    for seq in range(3):
        rig.worker.process([rig.frame("a", seq, "red")])
    [after] = rig.worker.process([rig.frame("a", 3, "red", epoch=epoch, t=t)])
    assert after.sequence is not None and after.sequence.steps == 1, why
    [next_one] = rig.worker.process([rig.frame("a", 4, "red", epoch=epoch, t=t + 0.04)])
    assert next_one.sequence is not None and next_one.sequence.steps == 2


def test_the_loop_publishes_results_and_survives_a_failing_batch(rig: Rig) -> None:
    for s in ("a", "b"):
        rig.batcher.register(s, Policy.WAIT, rig.preparer.release)
    stop = threading.Event()
    rig.worker.start()
    try:
        rig.batcher.put(rig.frame("a", 0, "red"), stop)
        # A frame without the classifier's input makes its batch fail: counted, and the loop goes on.
        broken = Prepared(FrameInfo("b", 0, 0, 0.0, time.monotonic(), 32, 24), {})
        wait_until(lambda: len(rig.results) == 1)
        rig.batcher.put(broken, stop)
        wait_until(lambda: rig.events.drops == [("b", "error")])
        rig.batcher.put(rig.frame("a", 1, "green"), stop)
        wait_until(lambda: len(rig.results) == 2)
    finally:
        rig.worker.stop()
        rig.batcher.close()
        rig.worker.join(2.0)
    assert not rig.worker.is_alive()
    assert [(r.info.stream, r.outputs[0].top[0].label) for r in rig.results] == [("a", "red"), ("a", "green")]
    assert rig.events.done == ["a", "a"]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")

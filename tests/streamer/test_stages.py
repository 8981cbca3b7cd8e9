"""The inference thread's stages, each on its own with real tiny ONNX models: no threads, no processes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from streamer.batch_inputs import BatchInputs
from streamer.batcher import Batcher, Policy
from streamer.handoff import Handoff
from streamer.interpret import model_output
from streamer.model_config import ModelConfig
from streamer.modelset import ImageModel, SequenceModel
from streamer.prepare import FramePreparer
from streamer.records import Frame, FrameInfo, Transform
from streamer.runtime import Model, load_model
from streamer.sequence_step import SequenceStep
from tests import tinymodels


def _info(stream: str, seq: int, epoch: int = 0, t: float = 0.0) -> FrameInfo:
    return FrameInfo(stream, seq, epoch, t, t, 64, 48)


def _frame(stream: str, seq: int, colour: tuple[int, int, int]) -> Frame:
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:] = colour
    return Frame(_info(stream, seq), image)


@pytest.fixture
def classifier(tmp_path: Path) -> ImageModel:
    path = tinymodels.classifier(tmp_path / "c.onnx", size=(16, 16))
    cfg = ModelConfig(path=str(path), top_k=1)
    return ImageModel(load_model("c", path, cfg, 4), cfg)


def test_batch_inputs_copy_each_frame_into_its_row_and_reuse_the_buffer(classifier: ImageModel) -> None:
    assert classifier.model.spec.input is not None
    preparer = FramePreparer({"c": classifier.model.spec.input})
    inputs = BatchInputs([classifier], max_batch=4)
    batch = [preparer(_frame("a", 0, (0, 0, 255))), preparer(_frame("b", 0, (255, 0, 0)))]
    feeds = inputs.fill(batch)
    assert feeds["c"].shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(feeds["c"][1], batch[1].inputs["c"].tensor)
    first = feeds["c"]
    again = inputs.fill(batch[:1])["c"]
    assert np.shares_memory(again, first)  # the same buffer: no allocation per batch


def test_interpret_a_classifier_row(classifier: ImageModel) -> None:
    logits = np.array([[0.0, 5.0, 0.0], [9.0, 0.0, 0.0]], dtype=np.float32)
    out = model_output(
        classifier, {"logits": logits, "embedding": np.zeros((2, 3))}, 1, Transform(1, 1, 0, 0), (64, 48)
    )
    assert out.kind == "classifier" and out.top[0].label == "red" and out.top[0].score > 0.99
    assert out.embedding is None  # not asked for


def test_interpret_a_detector_maps_boxes_back_to_source_pixels(tmp_path: Path) -> None:
    anchors = np.array([[32.0], [32.0], [16.0], [16.0], [0.9], [0.1]], dtype=np.float32)
    path = tinymodels.detector(tmp_path / "d.onnx", anchors)
    cfg = ModelConfig(path=str(path))
    im = ImageModel(load_model("d", path, cfg, 1), cfg)
    # A 128x128 source letterboxed into 64x64: half scale, no padding.
    out = model_output(im, {"output0": anchors[None]}, 0, Transform(0.5, 0.5, 0, 0), (128, 128))
    (det,) = out.detections
    assert det.label == "person" and det.box == pytest.approx((48.0, 48.0, 80.0, 80.0))


@pytest.fixture
def sequence(tmp_path: Path) -> SequenceStep:
    path = tinymodels.sequence(tmp_path / "s.onnx")
    model = load_model("s", path, ModelConfig(path=str(path)), 4)
    return SequenceStep(SequenceModel(model, "c"), max_batch=4, reset_gap_s=1.0)


def _run(model: Model, feeds: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return model.run(feeds)


def test_sequence_step_carries_each_streams_state_and_resets_on_a_new_epoch(sequence: SequenceStep) -> None:
    feats = np.ones((2, 3), dtype=np.float32)
    first = sequence([_info("a", 0), _info("b", 0)], feats, _run)
    second = sequence([_info("a", 1, t=0.1), _info("b", 1, epoch=1, t=0.1)], feats, _run)
    assert [o.steps for o in first] == [1, 1]
    assert [o.steps for o in second] == [2, 1]  # b reconnected: its state starts again
    assert second[0].score != pytest.approx(second[1].score)  # a's hidden state differs from a fresh one


def test_handoff_skips_preprocessing_while_the_previous_frame_waits(classifier: ImageModel) -> None:
    assert classifier.model.spec.input is not None
    preparer = FramePreparer({"c": classifier.model.spec.input})
    drops: list[tuple[str, str]] = []
    batcher = Batcher(on_drop=lambda s, r: drops.append((s, r)))
    batcher.register("a", Policy.LATEST, preparer.release)
    handoff = Handoff("a", batcher, preparer, lambda s, r: drops.append((s, r)))
    handoff.stop_event = threading.Event()
    handoff(_frame("a", 0, (0, 0, 255)))
    handoff(_frame("a", 1, (0, 0, 255)))  # frame 0 not taken yet
    assert drops == [("a", "superseded")]
    (taken,) = batcher.take(4, 0.0, 0.1)
    assert taken.info.seq == 0

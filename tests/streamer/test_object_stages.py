"""Tracking and the per-object sequence stage on real tiny ONNX models: detections in, ids and labels out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from streamer.batcher import Batcher
from streamer.config import PipelineConfig, TrackingConfig
from streamer.inference import InferenceWorker
from streamer.interpret import model_output
from streamer.model_config import ModelConfig
from streamer.modelset import ImageModel, ModelSet, SequenceModel
from streamer.modelspec import InputDType, InputSpec, Layout
from streamer.object_sequence import ObjectSequenceStep, ObjectView
from streamer.prepare import FramePreparer
from streamer.records import Detection, Frame, FrameInfo, ModelOutput, Prepared, Transform
from streamer.runtime import Model, load_model
from streamer.tracks import TrackStage, track_params
from tests import objectmodels, tinymodels

W, H = 320, 240


def render(centres: list[tuple[float, float]]) -> np.ndarray:
    """A grey frame (BGR) with a red 40x40 square at each centre."""
    image = np.full((H, W, 3), 60, np.uint8)
    for cx, cy in centres:
        x0, y0 = round(cx - 20), round(cy - 20)
        image[max(0, y0) : y0 + 40, max(0, x0) : x0 + 40] = (0, 0, 230)
    return image


def info(stream: str, k: int, epoch: int = 0) -> FrameInfo:
    return FrameInfo(stream, k, epoch, 1000.0 + k * 0.04, k * 0.04, W, H)


def load(name: str, path: Path, max_batch: int = 4) -> ImageModel:
    cfg = ModelConfig(path=str(path), top_k=1, confidence=0.5)
    return ImageModel(load_model(name, path, cfg, max_batch), cfg)


@pytest.fixture
def detector(tmp_path: Path) -> ImageModel:
    return load("det", objectmodels.blob_detector(tmp_path / "blob.onnx"))


class Events:
    def __init__(self) -> None:
        self.tracked_calls: list[tuple[str, int, int, int]] = []
        self.steps: dict[str, int] = {}

    def inferred(self, model: str, seconds: float, batch: int) -> None:
        pass

    def processed(self, stream: str) -> None:
        pass

    def dropped(self, stream: str, reason: object) -> None:
        pass

    def tracked(self, stream: str, alive: int, started: int, ended: int) -> None:
        self.tracked_calls.append((stream, alive, started, ended))

    def object_steps(self, stream: str, steps: int) -> None:
        self.steps[stream] = self.steps.get(stream, 0) + steps


def test_the_blob_detector_finds_each_square_once_where_it_is(detector: ImageModel) -> None:
    assert detector.model.spec.input is not None
    prep = FramePreparer({"det": detector.model.spec.input})(Frame(info("a", 0), render([(100, 60), (250, 170)])))
    raw = detector.model.run({"images": prep.inputs["det"].tensor[None]})
    out = model_output(detector, raw, 0, prep.inputs["det"].transform, (W, H))
    centres = sorted(((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in out.detections)
    assert len(centres) == 2
    assert centres[0] == pytest.approx((100, 60), abs=3) and centres[1] == pytest.approx((250, 170), abs=3)


def test_track_stage_gives_moving_squares_stable_ids(detector: ImageModel) -> None:
    assert detector.model.spec.input is not None
    preparer = FramePreparer({"det": detector.model.spec.input})
    stage = TrackStage(["det"], track_params(TrackingConfig()))
    by_object: dict[int, set[int | None]] = {0: set(), 1: set()}
    for k in range(30):
        a, b = (40 + 6 * k, 60), (280 - 6 * k, 170)
        prep = preparer(Frame(info("a", k), render([a, b])))
        raw = detector.model.run({"images": prep.inputs["det"].tensor[None]})
        tracked = stage(info("a", k), (model_output(detector, raw, 0, prep.inputs["det"].transform, (W, H)),))
        dets = tracked.outputs[0].detections
        assert len(dets) == 2
        if k >= 1:
            for d in dets:
                by_object[0 if d.box[1] < 120 else 1].add(d.track_id)
        assert tracked.alive == (2 if k >= 1 else 0)
    assert len(by_object[0]) == 1 and len(by_object[1]) == 1  # one id per square, from confirmation on
    assert None not in by_object[0] | by_object[1] and by_object[0] != by_object[1]
    ended = stage.forget("a")
    assert sorted(i for c in ended for i in c.ended) == [1, 2] and stage.alive("a") == 0


def test_a_file_is_tracked_on_its_own_timeline_whatever_the_capture_pace(detector: ImageModel) -> None:
    """Frames of a file read in bursts (10 in a millisecond, then a stall) keep their ids: motion is
    predicted over the file's 40 ms a frame, not over the capture clock's gaps."""
    assert detector.model.spec.input is not None
    preparer = FramePreparer({"det": detector.model.spec.input})
    stage = TrackStage(["det"], track_params(TrackingConfig(lost_buffer_s=0.2)))
    ids: dict[int, set[int | None]] = {0: set(), 1: set()}
    for k in range(40):
        burst_clock = (k // 10) * 0.5 + (k % 10) * 1e-4
        frame_info = FrameInfo("f", k, 0, 1000.0 + burst_clock, burst_clock, W, H, t_media=k * 0.04)
        prep = preparer(Frame(frame_info, render([(40 + 6 * k, 60), (280 - 6 * k, 170)])))
        raw = detector.model.run({"images": prep.inputs["det"].tensor[None]})
        tracked = stage(frame_info, (model_output(detector, raw, 0, prep.inputs["det"].transform, (W, H)),))
        if k >= 1:
            for d in tracked.outputs[0].detections:
                ids[0 if d.box[1] < 120 else 1].add(d.track_id)
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and None not in ids[0] | ids[1], ids
    assert stage.alive("f") == 2


def test_other_models_pass_through_untouched() -> None:
    stage = TrackStage(["det"], track_params(TrackingConfig()))
    cls = ModelOutput("frame", "classifier")
    tracked = stage(info("a", 0), (cls,))
    assert tracked.outputs == (cls,) and tracked.changes == ()


@pytest.mark.parametrize(("layout", "dtype"), [("NCHW", "float32"), ("NHWC", "uint8")])
def test_an_object_view_keeps_the_box_in_place_and_fills_the_rest(layout: Layout, dtype: InputDType) -> None:
    spec = InputSpec("image", 20, 40, layout=layout, mean=(0.5, 0.25, 0.0), dtype=dtype)
    np_dtype = np.uint8 if dtype == "uint8" else np.float32
    image = np.full(spec.shape(1)[1:], 7, np_dtype)
    out = np.empty_like(image)
    view = ObjectView(spec)
    # Source 80x40 at half scale: box (20, 10)-(40, 20) and 15 % margin -> input rows 4..10, columns 8..21.
    view.write(out, image, (20.0, 10.0, 40.0, 20.0), Transform(0.5, 0.5, 0.0, 0.0))
    chw = out if layout == "NCHW" else out.transpose(2, 0, 1)
    inside = chw[:, 4:11, 8:22]
    assert np.all(inside == 7)
    fill = (0, 0, 0) if dtype == "float32" else (128, 64, 0)
    for c in range(3):
        assert (
            chw[c, 0, 0] == fill[c]
            and chw[c, 19, 39] == fill[c]
            and chw[c, 11, 8] == fill[c]
            and chw[c, 4, 22] == fill[c]
        )
    view.write(out, image, (500.0, 500.0, 600.0, 600.0), Transform(0.5, 0.5, 0.0, 0.0))
    assert not np.any(out == 7)  # wholly outside the frame: nothing of the frame shows


@pytest.fixture
def objects(tmp_path: Path, detector: ImageModel) -> ObjectSequenceStep:
    frame = load("frame", tinymodels.classifier(tmp_path / "c.onnx", size=(24, 32)), 2)
    path = tinymodels.sequence(tmp_path / "s.onnx")
    seq = SequenceModel(load_model("motion", path, ModelConfig(path=str(path)), 2), "frame", "det")
    return ObjectSequenceStep(seq, frame, max_batch=2)


def run(model: Model, feeds: dict[str, npt.NDArray[Any]], n: int) -> dict[str, npt.NDArray[Any]]:
    """A ``RunModel``: one plain run of the batch (``n``, its size, is not needed here)."""
    return model.run(feeds)


def dets(*ids: int | None) -> ModelOutput:
    return ModelOutput(
        "det",
        "detector",
        detections=tuple(Detection("blob", 0.9, (10.0 * k, 10, 10.0 * k + 8, 18), i) for k, i in enumerate(ids)),
    )


def test_object_sequence_steps_each_track_in_order_across_streams_and_chunks(objects: ObjectSequenceStep) -> None:
    images = np.random.default_rng(0).uniform(-1, 1, (2, 3, 24, 32)).astype(np.float32)
    t = [Transform(0.1, 0.1, 0.0, 0.0)] * 2
    infos = [info("a", 0), info("b", 0)]
    # Five tracked objects over two streams with max_batch 2: three chunks; one untracked detection.
    outputs = [(dets(1, 2, None),), (dets(1, 2, 3),)]
    out, steps = objects(infos, outputs, images, t, run)
    assert steps == {"a": 2, "b": 3}
    seqs = [[d.sequence for d in o[0].detections] for o in out]
    assert seqs[0][2] is None and all(s is not None and s.steps == 1 for s in seqs[0][:2] + seqs[1])
    assert {s.label for row in seqs for s in row if s is not None} <= {"still", "moving"}
    out, _ = objects([info("a", 1)], [(dets(2, 5),)], images[:1], t[:1], run)
    assert [d.sequence.steps for d in out[0][0].detections if d.sequence] == [2, 1]
    assert objects.end("a", [2]) == 1 and ("a", 2) not in objects.states and ("b", 2) in objects.states


def test_object_sequence_state_follows_its_object(objects: ObjectSequenceStep) -> None:
    """The same object seen alone or beside another gets the same label: no state leaks between tracks."""
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (1, 3, 24, 32)).astype(np.float32)
    t = [Transform(0.1, 0.1, 0.0, 0.0)]
    alone, _ = objects([info("a", 0)], [(dets(None, 7),)], images, t, run)
    both, _ = objects([info("b", 0)], [(dets(4, 7),)], images, t, run)
    a = alone[0][0].detections[1].sequence
    b = both[0][0].detections[1].sequence
    assert a is not None and b is not None and a.score == pytest.approx(b.score, abs=1e-6)


def test_the_inference_worker_tracks_and_ends_tracks_on_a_new_epoch(tmp_path: Path, detector: ImageModel) -> None:
    frame = load("frame", tinymodels.classifier(tmp_path / "c.onnx", size=(24, 32)))
    path = tinymodels.sequence(tmp_path / "s.onnx")
    seq = SequenceModel(load_model("motion", path, ModelConfig(path=str(path)), 4), "frame", "det")
    models = ModelSet((detector, frame), seq)
    events = Events()
    batcher = Batcher(on_drop=events.dropped)
    worker = InferenceWorker(models, batcher, PipelineConfig(max_batch=4), lambda _r: None, events)
    specs = {im.model.name: im.model.spec.input for im in models.image if im.model.spec.input is not None}
    preparer = FramePreparer(specs)

    def step(k: int, epoch: int) -> list[Detection]:
        item: Prepared = preparer(Frame(info("a", k, epoch), render([(40 + 5 * k, 60), (280 - 5 * k, 170)])))
        (result,) = worker.process([item])
        return list(next(o for o in result.outputs if o.model == "det").detections)

    for k in range(5):
        found = step(k, 0)
    assert len(found) == 2 and {d.track_id for d in found} == {1, 2}
    assert all(d.sequence is not None and d.sequence.steps == 4 for d in found)
    assert worker.objects is not None and len(worker.objects.states) == 2
    found = step(5, 1)  # reconnect: every track and its state ends; the new ones need confirming
    assert [d.track_id for d in found] == [None, None] and len(worker.objects.states) == 0
    assert events.tracked_calls[-1] == ("a", 0, 0, 2)
    found = step(6, 1)
    assert len(found) == 2 and {d.track_id for d in found} == {3, 4}
    assert events.steps == {"a": 2 * 4 + 2}
    worker.forget_stream("a")
    step(7, 1)  # forgetting applies before the next batch: the stream starts afresh
    assert events.tracked_calls[-1] == ("a", 0, 0, 0)

"""The per-object motion model: its training data, its export, and the accuracy that scores it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from export.object_gru import OBJECT_GRU_CHECKPOINT, OBJECT_GRU_ONNX, ObjectGruConfig, load_object_gru, run_object_gru
from export.object_motion import OBJECT_MOTIONS
from export.object_sequence_eval import SETTLE, MotionFigures, motion_accuracy
from export.object_views import ViewEmbedder, jitter_box, object_sequences
from export.onnx_io import read_spec
from export.scenes_objects import ObjectTruth
from streamer.records import Detection, SequenceOutput

MODELS = Path(__file__).resolve().parents[2] / "models"
A, B = (10.0, 10.0, 50.0, 50.0), (100.0, 100.0, 140.0, 160.0)


def _truth(oid: int, box: tuple[float, float, float, float], motion: str, visibility: float = 1.0) -> ObjectTruth:
    return ObjectTruth(oid, "circle", box, visibility, motion)


def _det(track_id: int | None, box: tuple[float, float, float, float], label: str, steps: int) -> Detection:
    return Detection("circle", 0.9, box, track_id, sequence=SequenceOutput("motion", label, 0.9, steps))


def _score(truths: Sequence[Sequence[ObjectTruth]], labelled: Sequence[Sequence[Detection]]) -> MotionFigures:
    return motion_accuracy([(truths, labelled)])


def test_matched_tracks_past_the_warm_up_are_scored_on_their_objects_motion() -> None:
    truths = [(_truth(1, A, "left"), _truth(2, B, "up"))] * 4
    # Track 7 on object 1 says left (right), track 8 on object 2 says down (wrong); the first
    # frame of each is still in its warm-up and is not scored.
    labelled = [(_det(7, A, "left", SETTLE - 1 + k), _det(8, B, "down", SETTLE - 1 + k)) for k in range(4)]
    m = _score(truths, labelled)
    assert (m.scored, m.objects) == (6, 2) and m.accuracy == pytest.approx(50.0)


def test_unmatched_and_dont_care_pairs_are_not_scored() -> None:
    far = (200.0, 10.0, 240.0, 50.0)
    truths = [(_truth(1, A, "left"), _truth(2, B, "up", visibility=0.1))]
    # A track far from every object (a false alarm) and one on a mostly hidden object: no score.
    labelled = [(_det(7, far, "left", 40), _det(8, B, "up", 40), _det(None, A, "left", 40))]
    m = _score(truths, labelled)
    assert m.scored == 0 and np.isnan(m.accuracy)


def test_box_jitter_moves_edges_by_a_fraction_of_the_box() -> None:
    rng = np.random.default_rng(0)
    boxes = np.array([jitter_box(rng, (100.0, 50.0, 140.0, 70.0), 0.05) for _ in range(2000)])
    edge_std = (boxes - [100.0, 50.0, 140.0, 70.0]).std(axis=0)
    assert edge_std == pytest.approx([2.0, 1.0, 2.0, 1.0], rel=0.1)  # 5 % of 40 and of 20 pixels


def test_object_views_make_one_sequence_per_object_in_time_order() -> None:
    spec = read_spec(MODELS / "frame_cnn.onnx").input
    assert spec is not None
    data = object_sequences(ViewEmbedder(MODELS / "frame_cnn.onnx", spec), seed=3, clips=2, length=20, box_jitter=0.0)
    assert data.num_clips >= 2 and data.motion_classes == OBJECT_MOTIONS
    assert data.embeddings.shape == (int(data.offsets[-1]), 32) and np.isfinite(data.embeddings).all()
    assert data.segment_starts[data.offsets[:-1]].all() and data.segment_starts.sum() == data.num_clips
    for i in range(data.num_clips):  # one motion per object, and only motions an object can have
        labels = data.motion_labels[data.offsets[i] : data.offsets[i + 1]]
        assert len(set(labels.tolist())) == 1 and 0 <= labels[0] < len(OBJECT_MOTIONS)


def test_quick_training_exports_a_self_describing_gru_equal_to_its_checkpoint(tmp_path: Path) -> None:
    shutil.copy(MODELS / "frame_cnn.onnx", tmp_path)
    figures = run_object_gru(tmp_path, ObjectGruConfig().quick())
    spec = read_spec(tmp_path / OBJECT_GRU_ONNX)
    assert spec.kind == "sequence" and spec.labels == OBJECT_MOTIONS
    assert spec.feature_size == 32 and spec.state is not None
    net = load_object_gru(tmp_path / OBJECT_GRU_CHECKPOINT)
    assert net.cfg.num_classes == len(OBJECT_MOTIONS)
    parity = figures["object_gru_parity_max_abs_diff"]
    assert isinstance(parity, float) and parity < 1e-4


def test_refuses_a_model_dir_without_the_frame_cnn(tmp_path: Path) -> None:
    from export.errors import ExportError

    with pytest.raises(ExportError, match=r"frame_cnn\.onnx: missing"):
        run_object_gru(tmp_path, ObjectGruConfig().quick())


def test_the_command_refuses_to_overwrite_then_trains_and_records_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from export.cli import main
    from export.manifest import read_manifest

    shutil.copy(MODELS / "frame_cnn.onnx", tmp_path)
    (tmp_path / OBJECT_GRU_ONNX).write_bytes(b"an older one")
    assert main(["object-gru", "--models", str(tmp_path), "--quick"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["object-gru", "--models", str(tmp_path), "--quick", "--force", "--json"]) == 0
    assert read_spec(tmp_path / OBJECT_GRU_ONNX).labels == OBJECT_MOTIONS
    evaluation = read_manifest(tmp_path)["evaluation"]
    assert evaluation["object_gru_training"]["sequences"] > 0  # no detector here: no accuracy to score
    assert "object_sequence_accuracy" not in evaluation


def test_retraining_the_frame_cnn_retrains_the_object_gru_that_learned_on_it(tiny_models: Path, tmp_path: Path) -> None:
    from export.cli import main
    from export.manifest import sha256

    for f in tiny_models.iterdir():
        shutil.copy(f, tmp_path)
    run_object_gru(tmp_path, ObjectGruConfig().quick())
    before = sha256(tmp_path / OBJECT_GRU_ONNX)
    assert main(["all", "--models", str(tmp_path), "--quick", "--force", "--no-int8"]) == 0
    assert sha256(tmp_path / OBJECT_GRU_ONNX) != before

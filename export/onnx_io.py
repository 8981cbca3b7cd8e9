"""ONNX export of the trained pair: single files, fixed opset, named dynamic-batch tensors, metadata.

The metadata is written with :class:`streamer.modelspec.ModelSpec`, the daemon's own reader, so
both sides agree on every key.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from export import __version__
from export.checkpoint import TrainedPair
from export.datasets import MEAN, STD
from export.errors import ExportError
from export.nets import SequenceGRU
from streamer.modelspec import InputSpec, ModelSpec, StateSpec

OPSET = 17
FRAME_ONNX = "frame_cnn.onnx"
SEQUENCE_ONNX = "sequence_gru.onnx"
FRAME_INT8 = "frame_cnn.int8.onnx"
SEQUENCE_INT8 = "sequence_gru.int8.onnx"


def producer() -> str:
    """The producer string stored in every model: tool, torch and onnx versions."""
    return f"streamer-export {__version__} (torch {torch.__version__.split('+')[0]}, onnx {onnx.__version__})"


def frame_spec(pair: TrainedPair) -> ModelSpec:
    """What the daemon needs to feed FrameCNN and read it."""
    cfg = pair.frame.cfg
    return ModelSpec(
        kind="classifier",
        labels=pair.frame_classes,
        input=InputSpec(
            name="image",
            height=cfg.height,
            width=cfg.width,
            layout="NCHW",
            color_order="RGB",
            mean=MEAN,
            std=STD,
            resize="stretch",
            dtype="float32",
        ),
        outputs={"logits": "logits", "embedding": "embedding"},
        producer=producer(),
    )


def sequence_spec(pair: TrainedPair) -> ModelSpec:
    """What the daemon needs to step SequenceGRU and own its state."""
    return gru_spec(pair.sequence, pair.motion_classes)


def gru_spec(net: SequenceGRU, labels: tuple[str, ...]) -> ModelSpec:
    """The spec of a one-step SequenceGRU with output ``labels``."""
    cfg = net.cfg
    return ModelSpec(
        kind="sequence",
        labels=labels,
        outputs={"logits": "logits"},
        features_input="features",
        feature_size=cfg.feature_size,
        state=StateSpec(input="h_in", output="h_out", layers=cfg.num_layers, size=cfg.hidden_size),
        producer=producer(),
    )


class _FrameGraph(nn.Module):
    """FrameCNN without the training-only position output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, embedding, _ = self.net(image)
        return logits, embedding


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    """Replace the model's ``metadata_props`` with ``props``."""
    del model.metadata_props[:]
    for key, value in sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def read_spec(path: Path) -> ModelSpec:
    """The validated ModelSpec stored in an ONNX file."""
    where = str(path)
    return ModelSpec.from_metadata(read_metadata(path), where).validated(where)


def finish(model: onnx.ModelProto, spec: ModelSpec, path: Path) -> None:
    """Attach metadata, run the full checker, and save as one self-contained file."""
    set_metadata(model, spec.to_metadata())
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{path}: ONNX checker failed: {exc}") from None
    onnx.save(model, str(path), save_as_external_data=False)


def _to_onnx(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    names: tuple[list[str], list[str]],
    dynamic_axes: dict[str, dict[int, str]],
) -> onnx.ModelProto:
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, but it gives a plain GRU op
        # and named dynamic axes in one file; the warning says nothing actionable to users.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean")
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=names[0],
            output_names=names[1],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    return onnx.load(str(path))


def export_pair(pair: TrainedPair, out_dir: Path) -> list[Path]:
    """Write ``frame_cnn.onnx`` and ``sequence_gru.onnx``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = pair.frame.cfg
    frame_path = out_dir / FRAME_ONNX
    frame = _to_onnx(
        _FrameGraph(pair.frame).eval(),
        (torch.zeros(1, 3, cfg.height, cfg.width),),
        frame_path,
        (["image"], ["logits", "embedding"]),
        {"image": {0: "N"}, "logits": {0: "N"}, "embedding": {0: "N"}},
    )
    finish(frame, frame_spec(pair), frame_path)
    seq_path = export_gru(pair.sequence, pair.motion_classes, out_dir / SEQUENCE_ONNX)
    return [frame_path, seq_path]


def export_gru(net: SequenceGRU, labels: tuple[str, ...], path: Path) -> Path:
    """Write the one-step ``net`` as a self-describing ONNX file at ``path``."""
    cfg = net.cfg
    seq = _to_onnx(
        net.eval(),
        (torch.zeros(1, cfg.feature_size), torch.zeros(cfg.num_layers, 1, cfg.hidden_size)),
        path,
        (["features", "h_in"], ["logits", "h_out"]),
        {"features": {0: "N"}, "h_in": {1: "N"}, "logits": {0: "N"}, "h_out": {1: "N"}},
    )
    finish(seq, gru_spec(net, labels), path)
    return path

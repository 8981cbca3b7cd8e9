"""int8 variants of FrameCNN and ShapeDetector: static QDQ quantization calibrated on generated frames.

Only the convolutions are quantized (per-channel int8 weights, uint8 activations), except the
1-channel heat-map conv: the soft-argmax position it feeds is what the GRU reads motion from, and
it costs almost nothing in fp32. The pooled heads and the GRU stay fp32: they are a few thousand
multiply-adds, and ONNX Runtime has no int8 GRU kernel, so quantizing the GRU buys no speed.
For the detector the narrow output convs (box sides and class scores) stay fp32 the same way: box
precision is what mAP@0.5:0.95 measures, and they are a sliver of the compute.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from export.datasets import normalise
from export.onnx_io import finish, read_spec

logger = logging.getLogger(__name__)


class _Frames(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, images: np.ndarray, input_name: str, batch: int = 16) -> None:
        self._batches = iter([{input_name: normalise(images[i : i + batch])} for i in range(0, len(images), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _narrow_convs(model: onnx.ModelProto, max_channels: int) -> list[str]:
    """Names of Conv nodes with at most ``max_channels`` output channels (heat map, output heads)."""
    shapes = {init.name: list(init.dims) for init in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "Conv" and shapes.get(node.input[1], [max_channels + 1])[0] <= max_channels
    ]


def quantize_frame_cnn(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> Path:
    """Write the int8 FrameCNN for ``fp32_path``, calibrated on uint8 RGB frames ``[N, h, w, 3]``."""
    return quantize_convs(fp32_path, int8_path, calibration, keep_fp32_channels=1)


def quantize_convs(fp32_path: Path, int8_path: Path, calibration: np.ndarray, keep_fp32_channels: int) -> Path:
    """Write an int8 model of ``fp32_path`` (convs with <= ``keep_fp32_channels`` outputs stay fp32)."""
    spec = read_spec(fp32_path)
    if spec.input is None:
        raise ValueError(f"{fp32_path}: not an image model")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        exclude = _narrow_convs(onnx.load(str(pre)), keep_fp32_channels)
        out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(out),
            _Frames(calibration, spec.input.name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=exclude,
        )
        model = onnx.load(str(out))
    finish(model, spec, int8_path)
    logger.info("wrote %s (kept in fp32: %s)", int8_path, ", ".join(exclude) or "nothing")
    return int8_path

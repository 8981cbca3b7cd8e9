"""``[models.<name>]``: one ONNX model, its runtime options, the facts a third-party model's
metadata lacks, and its postprocessing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from streamer.strict import Strict

GraphOptimization = Literal["disable", "basic", "extended", "all"]


class ModelConfig(Strict):
    path: str
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    intra_op_threads: int = Field(default=0, ge=0, le=256)
    graph_optimization: GraphOptimization = "all"
    # Spinning ORT threads burn the cores the capture threads need; off by default.
    spin: bool = False
    # ONNX Runtime I/O binding: inputs copied to the device once, outputs into reused buffers.
    # "auto" binds on a GPU provider and not on CPU (where plain run measured no worse).
    io_binding: Literal["auto", "on", "off"] = "auto"
    # Facts for third-party models without streamer metadata (each overrides the metadata).
    kind: Literal["classifier", "detector", "embedding", "sequence"] | None = None
    labels: list[str] | None = None
    # A text file of labels, one per line in index order (relative to the config file).
    labels_file: str | None = None
    input_name: str | None = None
    input_size: tuple[int, int] | None = None
    layout: Literal["NCHW", "NHWC"] | None = None
    color_order: Literal["RGB", "BGR"] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    resize: Literal["stretch", "letterbox", "pad"] | None = None
    pad_value: int | None = Field(default=None, ge=0, le=255)
    input_dtype: Literal["float32", "uint8"] | None = None
    outputs: dict[str, str] | None = None
    activation: Literal["auto", "softmax", "sigmoid", "none"] | None = None
    format: Literal["auto", "yolov8", "yolov5", "nms"] | None = None
    # Postprocessing.
    top_k: int = Field(default=3, ge=1)
    confidence: float = Field(default=0.25, ge=0, le=1)
    iou: float = Field(default=0.45, ge=0, le=1)
    max_detections: int = Field(default=100, ge=1)
    publish_embedding: bool = False
    # Sequence models: which per-frame model's embedding feeds them.
    features: str | None = None
    # Sequence models: step once per tracked object of this detector (features from the object's
    # view through the ``features`` model) instead of once per stream.
    objects: str | None = None

    @model_validator(mode="after")
    def _one_label_source(self) -> ModelConfig:
        if self.labels is not None and self.labels_file is not None:
            raise ValueError("give labels or labels_file, not both")
        return self

    def spec_overrides(self) -> dict[str, Any]:
        """The model-spec facts given in config, in metadata field names."""
        names = (
            "kind",
            "labels",
            "input_name",
            "layout",
            "color_order",
            "resize",
            "pad_value",
            "input_dtype",
            "outputs",
            "activation",
            "format",
        )
        out: dict[str, Any] = {n: getattr(self, n) for n in names}
        out["input_size"] = list(self.input_size) if self.input_size else None
        out["mean"] = list(self.mean) if self.mean else None
        out["std"] = list(self.std) if self.std else None
        return {k: v for k, v in out.items() if v is not None}

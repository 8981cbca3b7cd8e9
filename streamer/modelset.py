"""The configured models, loaded and linked: the per-frame image models and the sequence model they feed.

Loading checks every model against its config and warms it up (:mod:`streamer.runtime`); linking
finds the per-frame model whose embedding output feeds the sequence model and checks the widths.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from streamer.batchcost import BatchCost
from streamer.config import Config
from streamer.errors import ModelError
from streamer.events_config import check_rules
from streamer.labels import with_labels
from streamer.model_config import ModelConfig
from streamer.outputcheck import check_message_size, message_share
from streamer.runtime import Model, load_model, warmup_feeds

CALIBRATION_RUNS = 3


@dataclass(frozen=True)
class ImageModel:
    """A per-frame model with its postprocessing settings."""

    model: Model
    cfg: ModelConfig


@dataclass(frozen=True)
class SequenceModel:
    """The one-step sequence model and the per-frame model whose embedding feeds it.

    With ``objects_from`` (a detector), it steps once per tracked object of that detector, fed by
    the embedding of each object's view, instead of once per stream.
    """

    model: Model
    features_from: str
    objects_from: str | None = None


@dataclass(frozen=True)
class ModelSet:
    image: tuple[ImageModel, ...]
    sequence: SequenceModel | None

    def all(self) -> list[Model]:
        models = [m.model for m in self.image]
        return models + ([self.sequence.model] if self.sequence else [])


def load_models(config: Config) -> ModelSet:
    """Load, check and warm up every configured model and link the sequence model to its features."""
    image: list[ImageModel] = []
    sequence: tuple[Model, ModelConfig] | None = None
    for name, cfg in ((name, with_labels(config, name)) for name in config.models):
        model = load_model(name, config.resolve(cfg.path), cfg, config.pipeline.max_batch)
        if model.spec.kind == "sequence":
            sequence = (model, cfg)
        elif cfg.objects is not None:
            raise ModelError(f"models.{name}.objects: only a sequence model steps over tracked objects")
        else:
            image.append(ImageModel(model, cfg))
    shares = {im.model.name: message_share(im.model.spec, im.model.output_shapes, im.cfg) for im in image}
    check_message_size(shares, config.publish.max_message_bytes)
    labels = {label for im in image for label in im.model.spec.labels}
    if sequence is not None:
        labels |= set(sequence[0].spec.labels)
    check_rules(
        config.events,
        [s.name for s in config.streams],
        labels,
        {s.name: [z.name for z in s.zones] for s in config.streams},
        {s.name: [ln.name for ln in s.lines] for s in config.streams},
    )
    if sequence is None:
        return ModelSet(tuple(image), None)
    model, cfg = sequence
    features = _features_from(model, cfg.features, image)
    return ModelSet(tuple(image), SequenceModel(model, features, _objects_from(model, cfg.objects, features, image)))


def _objects_from(model: Model, objects: str | None, features: str, image: list[ImageModel]) -> str | None:
    """The detector whose tracked objects ``model`` steps over, checked; None for a per-stream model."""
    if objects is None:
        return None
    where = f"models.{model.name}.objects"
    detector = next((im for im in image if im.model.name == objects), None)
    if detector is None or detector.model.spec.kind != "detector":
        raise ModelError(f"{where}: model {objects!r} is not a detector")
    source = next(im for im in image if im.model.name == features)
    if source.model.spec.input is None:
        raise ModelError(f"{where}: the features model {features!r} has no image input to view objects through")
    return objects


def _features_from(model: Model, features: str | None, image: list[ImageModel]) -> str:
    """The per-frame model whose embedding feeds ``model``: the configured one, or the only candidate."""
    where = f"models.{model.name}"
    with_embedding = [im.model.name for im in image if im.model.spec.output("embedding")]
    if features is None:
        if len(with_embedding) != 1:
            raise ModelError(f"{where}.features: name the per-frame model whose embedding feeds this sequence model")
        features = with_embedding[0]
    if features not in with_embedding:
        raise ModelError(f"{where}.features: model {features!r} has no embedding output")
    source = next(im for im in image if im.model.name == features)
    emb = source.model.outputs[source.model.spec.outputs["embedding"]]
    width = emb.shape[-1] if emb.shape else None
    if isinstance(width, int) and width != model.spec.feature_size:
        raise ModelError(
            f"{where}: feature_size {model.spec.feature_size} does not match {features}'s embedding width {width}"
        )
    return features


def calibrate(models: list[Model], max_batch: int) -> BatchCost:
    """A first batch cost line: every model together at batch 1 and ``max_batch``, median of a few runs."""
    cost = BatchCost()
    for n in sorted({1, max_batch}):
        feeds = [(model, warmup_feeds(model.spec, n)) for model in models]
        runs = []
        for _ in range(CALIBRATION_RUNS):
            t0 = time.perf_counter()
            for model, feed in feeds:
                model.run(feed)
            runs.append(time.perf_counter() - t0)
        cost.observe(n, statistics.median(runs))
    return cost

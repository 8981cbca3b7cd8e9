"""Labels from a file: ``labels_file`` read once at load, one label per line in index order."""

from __future__ import annotations

from streamer.config import Config
from streamer.errors import ConfigError
from streamer.model_config import ModelConfig


def with_labels(config: Config, name: str) -> ModelConfig:
    """``models[name]``, its labels read from ``labels_file`` (relative to the config file) if it names one."""
    cfg = config.models[name]
    if cfg.labels_file is None:
        return cfg
    path = config.resolve(cfg.labels_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"models.{name}.labels_file: cannot read {path}: {exc}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = [line.strip() for line in lines]
    if not labels or not all(labels):
        raise ConfigError(f"models.{name}.labels_file: {path} must hold one non-empty label per line")
    return cfg.model_copy(update={"labels": labels})

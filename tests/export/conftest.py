"""Fixtures for the export tests: one tiny trained-and-exported model set, shared by the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from export.config import TrainConfig
from export.pipeline import run_export, run_train


def tiny_config(**overrides: Any) -> TrainConfig:
    """A training run of a few seconds: the round trip matters here, not accuracy."""
    cfg = replace(
        TrainConfig().quick(),
        frame_clips=16,
        streams=4,
        stream_length=40,
        cnn_steps=4,
        gru_steps=4,
        heldout_streams=1,
        heldout_clips=7,
    )
    return replace(cfg, **overrides)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A model directory produced by train + export (with int8 and the demo clip)."""
    out = tmp_path_factory.mktemp("models")
    run_train(tiny_config(), out, force=False)
    run_export(out, int8=True, force=False)
    yield out

"""Errors of the export tool, rooted in streamer's hierarchy.

DataError (a ConfigError) is bad usage or bad input data: the CLI exits 2 with one line.
ExportError is a failure of the tool's own work (e.g. parity above tolerance): exit 1.
"""

from __future__ import annotations

from streamer.errors import ConfigError, StreamerError


class DataError(ConfigError):
    """Unusable input: a missing folder, an empty class, too few classes, clips that are too short."""


class ExportError(StreamerError):
    """Training, export or verification failed."""


class ParityError(ExportError):
    """ONNX Runtime and PyTorch disagree beyond the tolerance."""

"""The one exception hierarchy of streamer.

StreamerError
├── ConfigError      bad configuration or usage: the CLI exits 2 with one line naming the key or path
│   └── ModelError   a model file that is missing, not ONNX, or does not match its spec
└── SourceError      a stream source that cannot be opened or read (affects only its own stream)
"""

from __future__ import annotations


class StreamerError(Exception):
    """Base class of every error streamer raises on purpose."""


class ConfigError(StreamerError):
    """A configuration or usage mistake; the message names the key or path."""


class ModelError(ConfigError):
    """A model that cannot be loaded or does not match its declared spec."""


class SourceError(StreamerError):
    """A video source that cannot be opened or read."""

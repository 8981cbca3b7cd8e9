"""streamer: a real-time video analytics daemon (OpenCV -> ONNX Runtime -> ZeroMQ)."""

from __future__ import annotations

__version__ = "0.1.0"

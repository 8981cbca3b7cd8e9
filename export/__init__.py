"""streamer-export: train the reference models, export them to ONNX, verify and evaluate them."""

from __future__ import annotations

__version__ = "0.1.0"

"""ONNX Runtime sessions for verification and evaluation (CPU, fixed thread count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from export.metrics import StepFn


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads (the target machine's core count)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_frames(sess: ort.InferenceSession, x: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(logits, embedding) for normalised frames ``[N, 3, h, w]``, in chunks of ``batch``."""
    name = sess.get_inputs()[0].name
    logits, embs = [], []
    for i in range(0, len(x), batch):
        lg, emb = sess.run(["logits", "embedding"], {name: x[i : i + batch]})
        logits.append(lg)
        embs.append(emb)
    return np.concatenate(logits), np.concatenate(embs)


def step_fn(sess: ort.InferenceSession) -> StepFn:
    """One GRU step through ONNX Runtime, the way the daemon calls it."""

    def step(features: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, h_out = sess.run(["logits", "h_out"], {"features": features, "h_in": h})
        return logits, h_out

    return step

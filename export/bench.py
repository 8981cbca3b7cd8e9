"""CPU speed of ONNX models, measured side by side in one run so the figures are comparable."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from export.ort_run import session


def ms_per_frame(paths: list[Path], x: np.ndarray, rounds: int = 15, per_round: int = 40) -> list[float]:
    """Best-round milliseconds per frame of each model on input ``x``, rounds interleaved.

    Interleaving means a burst of load from other processes hits every model alike; the best
    round (as ``timeit`` advises) is the figure least disturbed by that load on a shared machine.
    """
    sessions = [session(p) for p in paths]
    name = sessions[0].get_inputs()[0].name
    for sess in sessions:  # warm up so the first timed call is not paying for allocation
        for _ in range(10):
            sess.run(None, {name: x})
    samples: list[list[float]] = [[] for _ in paths]
    for _ in range(rounds):
        for i, sess in enumerate(sessions):
            t0 = time.perf_counter()
            for _ in range(per_round):
                sess.run(None, {name: x})
            samples[i].append((time.perf_counter() - t0) / per_round / len(x) * 1000.0)
    return [min(s) for s in samples]


def ms_per_step(path: Path, feature_size: int, layers: int, hidden: int, steps: int = 400) -> float:
    """Milliseconds per GRU step at batch 1."""
    sess = session(path)
    f = np.zeros((1, feature_size), np.float32)
    h = np.zeros((layers, 1, hidden), np.float32)
    for _ in range(20):
        sess.run(None, {"features": f, "h_in": h})
    t0 = time.perf_counter()
    for _ in range(steps):
        _, h = sess.run(None, {"features": f, "h_in": h})
    return (time.perf_counter() - t0) / steps * 1000.0

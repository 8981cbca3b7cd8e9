"""Parity of the exported files with PyTorch, plus metadata and manifest checks.

For each output: max absolute and relative difference between the checkpoint run in PyTorch and
the ONNX file run in ONNX Runtime, on held-out frames at batch 1 and 16, and a 100-step GRU rollout
where each side carries its own state (ONNX Runtime's state is fed back into ONNX Runtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from export.checkpoint import TrainedPair, load_pair
from export.datasets import SPLIT_HELDOUT_STREAMS, normalise, synthetic_streams
from export.errors import DataError
from export.manifest import check_manifest
from export.onnx_io import FRAME_ONNX, SEQUENCE_ONNX, frame_spec, read_spec, sequence_spec
from export.ort_run import session

ROLLOUT_STEPS = 100
BIG_BATCH = 16


@dataclass(frozen=True)
class OutputParity:
    """One output's agreement between PyTorch and ONNX Runtime."""

    model: str
    output: str
    case: str
    dtype: str
    max_abs: float
    max_rel: float


@dataclass(frozen=True)
class ParityReport:
    """All outputs' figures, metadata/manifest problems, and the tolerance they were held to."""

    rows: tuple[OutputParity, ...]
    problems: tuple[str, ...]
    tolerance: float

    @property
    def max_abs(self) -> float:
        """The worst absolute difference over every output and case."""
        return max(r.max_abs for r in self.rows)

    @property
    def ok(self) -> bool:
        """True when every difference is within tolerance and nothing else is wrong."""
        return self.max_abs <= self.tolerance and not self.problems


def _compare(model: str, output: str, case: str, ref: np.ndarray, got: np.ndarray) -> OutputParity:
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    scale = max(float(np.abs(ref).max()), 1e-12)
    return OutputParity(model, output, case, str(got.dtype), float(diff.max()), float(diff.max()) / scale)


def _frames(pair: TrainedPair, count: int) -> np.ndarray:
    cfg = pair.config
    size = (pair.frame.cfg.height, pair.frame.cfg.width)
    data = synthetic_streams(cfg.seed, SPLIT_HELDOUT_STREAMS, 1, count, size)
    return normalise(data.images)


def _frame_rows(pair: TrainedPair, path: Path, x: np.ndarray) -> tuple[list[OutputParity], np.ndarray]:
    sess = session(path)
    rows = []
    with torch.no_grad():
        ref_logits, ref_emb, _ = pair.frame(torch.from_numpy(x))
    for case, sl in (("batch 1", slice(0, 1)), (f"batch {BIG_BATCH}", slice(0, BIG_BATCH))):
        logits, emb = sess.run(["logits", "embedding"], {"image": x[sl]})
        rows.append(_compare(path.name, "logits", case, ref_logits[sl].numpy(), logits))
        rows.append(_compare(path.name, "embedding", case, ref_emb[sl].numpy(), emb))
    return rows, ref_emb.numpy()


def _sequence_rows(pair: TrainedPair, path: Path, feats: np.ndarray) -> list[OutputParity]:
    sess = session(path)
    gru = pair.sequence
    layers, hidden = gru.cfg.num_layers, gru.cfg.hidden_size
    rows = []
    rng = np.random.default_rng(0)
    for case, n in (("batch 1", 1), (f"batch {BIG_BATCH}", BIG_BATCH)):
        f = feats[:n]
        h = rng.normal(0, 0.5, size=(layers, n, hidden)).astype(np.float32)
        with torch.no_grad():
            ref_logits, ref_h = gru(torch.from_numpy(f), torch.from_numpy(h))
        logits, h_out = sess.run(["logits", "h_out"], {"features": f, "h_in": h})
        rows.append(_compare(path.name, "logits", case, ref_logits.numpy(), logits))
        rows.append(_compare(path.name, "h_out", case, ref_h.numpy(), h_out))
    # Rollout: both sides start from zeros and feed back their own state for 100 steps.
    h_ort = np.zeros((layers, 1, hidden), np.float32)
    h_ref = torch.zeros(layers, 1, hidden)
    worst_logits = worst_h = (0.0, 0.0)
    for t in range(ROLLOUT_STEPS):
        f = feats[t : t + 1]
        with torch.no_grad():
            ref_logits, h_ref = gru(torch.from_numpy(f), h_ref)
        logits, h_ort = sess.run(["logits", "h_out"], {"features": f, "h_in": h_ort})
        a = _compare("", "", "", ref_logits.numpy(), logits)
        b = _compare("", "", "", h_ref.numpy(), h_ort)
        worst_logits = max(worst_logits, (a.max_abs, a.max_rel))
        worst_h = max(worst_h, (b.max_abs, b.max_rel))
    case = f"rollout {ROLLOUT_STEPS} steps"
    rows.append(OutputParity(path.name, "logits", case, "float32", *worst_logits))
    rows.append(OutputParity(path.name, "h_out", case, "float32", *worst_h))
    return rows


def _metadata_problems(pair: TrainedPair, model_dir: Path) -> list[str]:
    problems = []
    for name, want in ((FRAME_ONNX, frame_spec(pair)), (SEQUENCE_ONNX, sequence_spec(pair))):
        got = read_spec(model_dir / name)
        # The producer string names library versions, which may differ from the exporting machine.
        if got.to_metadata() | {"producer": ""} != want.to_metadata() | {"producer": ""}:
            problems.append(f"{name}: metadata does not match its checkpoint")
    return problems


def check_parity(model_dir: Path, tolerance: float = 1e-4) -> ParityReport:
    """Compare the fp32 ONNX files in ``model_dir`` with their PyTorch checkpoints."""
    for name in (FRAME_ONNX, SEQUENCE_ONNX):
        if not (model_dir / name).is_file():
            raise DataError(f"{model_dir / name}: missing (run `streamer-export export` first)")
    pair = load_pair(model_dir)
    torch.set_num_threads(pair.config.threads)
    x = _frames(pair, ROLLOUT_STEPS + BIG_BATCH)
    rows, feats = _frame_rows(pair, model_dir / FRAME_ONNX, x)
    rows += _sequence_rows(pair, model_dir / SEQUENCE_ONNX, feats)
    problems = _metadata_problems(pair, model_dir) + check_manifest(model_dir)
    return ParityReport(rows=tuple(rows), problems=tuple(problems), tolerance=tolerance)


def format_report(report: ParityReport) -> str:
    """The parity table as text."""
    lines = [f"{'model':<20} {'output':<10} {'case':<18} {'dtype':<8} {'max abs':>10} {'max rel':>10}"]
    for r in report.rows:
        lines.append(f"{r.model:<20} {r.output:<10} {r.case:<18} {r.dtype:<8} {r.max_abs:>10.2e} {r.max_rel:>10.2e}")
    lines += [f"problem: {p}" for p in report.problems]
    verdict = "PASS" if report.ok else "FAIL"
    lines.append(f"{verdict}: max abs diff {report.max_abs:.2e} (tolerance {report.tolerance:.0e})")
    return "\n".join(lines)

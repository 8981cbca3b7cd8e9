"""``streamer-export``: train, export, verify and evaluate the reference models (``all`` runs the four).

The detector has its own ``train-detector`` and ``export-detector`` (``detector`` runs both, then verify
and evaluate), the per-object motion GRU its ``object-gru``; ``verify`` and ``evaluate`` cover every
model present in the directory.

Exit codes: 0 ok, 2 bad usage or data (one line, no traceback), 1 failure (e.g. parity above tolerance).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from export import __version__
from export.cli_objects import OBJECT_COMMANDS, object_gru, object_parsers
from export.cli_output import print_figures, print_written
from export.config import TrainConfig
from export.errors import DataError, ExportError, ParityError
from streamer.errors import ConfigError

logger = logging.getLogger(__name__)

MAX_WIDTH_MULT = 4.0  # 16x the reference compute; beyond that a typo is likelier than intent


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="generator and training seed (default 0)")
    p.add_argument("--data", type=Path, help="train on DIR/<label>/*.mp4|avi|mkv instead of generated scenes")
    p.add_argument("--quick", action="store_true", help="shortened training for smoke tests (seconds)")
    p.add_argument("--cnn-steps", type=int, help="FrameCNN optimiser steps")
    p.add_argument("--gru-steps", type=int, help="SequenceGRU optimiser steps")
    p.add_argument("--seq-len", type=int, help="sequence length: clips must have at least this many frames")
    p.add_argument(
        "--width-mult",
        type=float,
        default=1.0,
        help=f"FrameCNN channel multiplier in (0, {MAX_WIDTH_MULT:g}] (default 1.0)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamer-export", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"streamer-export {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--models", type=Path, default=Path("models"), help="model directory (default ./models)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", parents=[common], help="train FrameCNN and SequenceGRU, save checkpoints")
    _train_args(p)
    p.add_argument("--force", action="store_true", help="overwrite existing checkpoints")
    p = sub.add_parser("export", parents=[common], help="write the ONNX files, demo clip and manifest")
    p.add_argument(
        "--int8", action=argparse.BooleanOptionalAction, default=False, help="also write frame_cnn.int8.onnx"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p = sub.add_parser("verify", parents=[common], help="PyTorch vs ONNX Runtime parity, metadata, manifest")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max absolute difference (default 1e-4)")
    p = sub.add_parser("evaluate", parents=[common], help="held-out accuracy and CPU speed via ONNX Runtime")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--data", type=Path, help="evaluate on the held-out clips of a --data folder")
    p.add_argument("--write-manifest", action="store_true", help="store the figures in manifest.json")
    p = sub.add_parser("all", parents=[common], help="train, export (with int8), verify, evaluate")
    _train_args(p)
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True, help="write the int8 variant")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--json", action="store_true", help="print the evaluate figures as JSON")
    p = sub.add_parser("demo", parents=[common], help="(re)write only the demo clip and its labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true")
    object_parsers(sub, common)
    return parser


def _config(args: argparse.Namespace) -> TrainConfig:
    if not 0 < args.width_mult <= MAX_WIDTH_MULT:
        raise DataError(f"--width-mult must be in (0, {MAX_WIDTH_MULT:g}]")
    cfg = TrainConfig(seed=args.seed, data=args.data, width_mult=args.width_mult)
    if args.quick:
        cfg = cfg.quick()
    overrides = {"cnn_steps": args.cnn_steps, "gru_steps": args.gru_steps, "seq_len": args.seq_len}
    for key, value in overrides.items():
        if value is not None and value <= 0:
            raise DataError(f"--{key.replace('_', '-')} must be positive")
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def _train(args: argparse.Namespace) -> int:
    from export.pipeline import run_train

    figures = run_train(_config(args), args.models, args.force)
    print_figures("held-out figures (PyTorch):", figures)
    return 0


def _export(args: argparse.Namespace) -> int:
    from export.pipeline import run_export

    print_written(run_export(args.models, args.int8, args.force))
    return 0


def verify(args: argparse.Namespace) -> int:
    from export.detector_onnx import DETECTOR_ONNX
    from export.detector_verify import check_detector_parity
    from export.onnx_io import FRAME_ONNX
    from export.verify import ParityReport, check_parity, format_report

    reports: list[ParityReport] = []
    has_detector = (args.models / DETECTOR_ONNX).is_file()
    if (args.models / FRAME_ONNX).is_file() or not has_detector:
        reports.append(check_parity(args.models, args.tolerance))
    if has_detector:
        reports.append(check_detector_parity(args.models, args.tolerance))
    for report in reports:
        print(format_report(report))
    failed = [r for r in reports if not r.ok]
    if failed:
        raise ParityError(f"verification failed: max abs diff {max(r.max_abs for r in failed):.2e}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from export.evaluate import evaluate as evaluate_models
    from export.evaluate import format_figures
    from export.pipeline import record_figures

    figures = evaluate_models(args.models, args.data)
    print(json.dumps(figures, sort_keys=False) if args.json else format_figures(figures))
    if args.write_manifest:
        record_figures(args.models, figures)
    return 0


def _all(args: argparse.Namespace) -> int:
    from export.object_gru import OBJECT_GRU_ONNX
    from export.pipeline import refuse_overwrite

    # Refuse before ten minutes of training, not after.
    refuse_overwrite(args.models, ["frame_cnn.pt", "frame_cnn.onnx", "sequence_gru.onnx"], args.force)
    had_object_gru = (args.models / OBJECT_GRU_ONNX).is_file()
    _train(args)
    _export(args)
    if had_object_gru:  # it learned on the old frame CNN's embeddings: it learns again on the new one's
        again = {"seed": args.seed, "quick": args.quick, "steps": None, "force": True, "json": False}
        object_gru(argparse.Namespace(models=args.models, **again))
    verify(argparse.Namespace(models=args.models, tolerance=1e-4))
    return evaluate(argparse.Namespace(models=args.models, json=args.json, data=args.data, write_manifest=True))


def _demo(args: argparse.Namespace) -> int:
    from export.demo import DEMO_CLIP, DEMO_LABELS, write_demo
    from export.pipeline import refuse_overwrite

    refuse_overwrite(args.models, [DEMO_CLIP, DEMO_LABELS], args.force)
    print_written(write_demo(args.models, args.seed))
    return 0


COMMANDS = {
    "train": _train,
    "export": _export,
    "verify": verify,
    "evaluate": evaluate,
    "all": _all,
    "demo": _demo,
    **OBJECT_COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``streamer-export``; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:  # includes DataError and ModelError
        print(f"streamer-export: error: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"streamer-export: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

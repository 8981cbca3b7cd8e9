"""``streamer-export``'s object commands: the detector (``train-detector``, ``export-detector``, and
``detector`` for both plus verify and evaluate), the per-object motion GRU (``object-gru``), the
tracker's tables (``tune-tracking``) and the objects demo clip (``objects-demo``)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from export.cli_output import print_figures, print_written
from export.errors import DataError
from export.train_detector import DetectorTrainConfig


def _detector_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="generator and training seed (default 0)")
    p.add_argument("--quick", action="store_true", help="shortened training for smoke tests (seconds)")
    p.add_argument("--steps", type=int, help="optimiser steps (default 6500)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def object_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train-detector", parents=[common], help="train the shape detector, save detector.pt")
    _detector_train_args(p)
    p = sub.add_parser("export-detector", parents=[common], help="write detector.onnx, the objects demo, the manifest")
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True, help="also write detector.int8.onnx")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p = sub.add_parser("detector", parents=[common], help="train-detector, export-detector, verify, evaluate")
    _detector_train_args(p)
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True, help="write the int8 variant")
    p.add_argument("--json", action="store_true", help="print the evaluate figures as JSON")
    p = sub.add_parser(
        "object-gru", parents=[common], help="train the per-object motion GRU on the frame CNN's object views"
    )
    p.add_argument("--seed", type=int, default=0, help="generator and training seed (default 0)")
    p.add_argument("--quick", action="store_true", help="shortened training for smoke tests (seconds)")
    p.add_argument("--steps", type=int, help="optimiser steps (default 3000)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    sub.add_parser(
        "tune-tracking", parents=[common], help="score [tracking] tables for the detector on validation clips"
    )
    p = sub.add_parser("objects-demo", parents=[common], help="(re)write only objects.mp4 and objects.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true")


def _detector_config(args: argparse.Namespace) -> DetectorTrainConfig:
    cfg = DetectorTrainConfig(seed=args.seed)
    if args.quick:
        cfg = cfg.quick()
    if args.steps is not None:
        if args.steps <= 0:
            raise DataError("--steps must be positive")
        cfg = replace(cfg, steps=args.steps)
    return cfg


def _train_detector(args: argparse.Namespace) -> int:
    from export.detector_pipeline import run_train_detector

    figures = run_train_detector(_detector_config(args), args.models, args.force)
    print_figures("held-out figures (PyTorch, the daemon's decode, pycocotools):", figures)
    return 0


def _export_detector(args: argparse.Namespace) -> int:
    from export.detector_pipeline import run_export_detector

    print_written(run_export_detector(args.models, args.int8, args.force))
    return 0


def _detector(args: argparse.Namespace) -> int:
    from export.cli import evaluate, verify
    from export.detector_onnx import DETECTOR_INT8, DETECTOR_ONNX
    from export.objects_demo import OBJECTS_CLIP, OBJECTS_LABELS
    from export.pipeline import refuse_overwrite
    from export.train_detector import DETECTOR_CHECKPOINT

    names = [DETECTOR_CHECKPOINT, DETECTOR_ONNX, DETECTOR_INT8, OBJECTS_CLIP, OBJECTS_LABELS]
    refuse_overwrite(args.models, names, args.force)  # before the training, not after
    _train_detector(args)
    _export_detector(args)
    verify(argparse.Namespace(models=args.models, tolerance=1e-4))
    return evaluate(argparse.Namespace(models=args.models, json=args.json, data=None, write_manifest=True))


def object_gru(args: argparse.Namespace) -> int:
    """Train and export ``object_gru.onnx``, then score it (with the detector and tracker, when
    the directory has a detector) and add its figures to the manifest."""
    from export.demo_objects_eval import demo_object_figures
    from export.manifest import read_manifest
    from export.object_gru import OBJECT_GRU_CHECKPOINT, OBJECT_GRU_ONNX, ObjectGruConfig, run_object_gru
    from export.object_sequence_eval import object_sequence_figures
    from export.pipeline import record_figures, refuse_overwrite

    cfg = ObjectGruConfig(seed=args.seed)
    cfg = cfg.quick() if args.quick else cfg
    if args.steps is not None:
        if args.steps <= 0:
            raise DataError("--steps must be positive")
        cfg = replace(cfg, gru=replace(cfg.gru, gru_steps=args.steps))
    refuse_overwrite(args.models, [OBJECT_GRU_CHECKPOINT, OBJECT_GRU_ONNX], args.force)
    figures = run_object_gru(args.models, cfg)
    figures.update(object_sequence_figures(args.models))
    figures.update(demo_object_figures(args.models))
    print(json.dumps(figures) if args.json else "\n".join(f"{k:<40} {v}" for k, v in figures.items()))
    record_figures(args.models, {**read_manifest(args.models).get("evaluation", {}), **figures})
    return 0


def _tune_tracking(args: argparse.Namespace) -> int:
    from export.detector_onnx import DETECTOR_ONNX
    from export.tracking_tune import format_candidates, tune_tracking

    if not (args.models / DETECTOR_ONNX).is_file():
        raise DataError(f"{args.models / DETECTOR_ONNX}: missing")
    print(format_candidates(tune_tracking(args.models)))
    return 0


def _objects_demo(args: argparse.Namespace) -> int:
    from export.detector_pipeline import run_objects_demo

    print_written(run_objects_demo(args.models, args.seed, args.force))
    return 0


OBJECT_COMMANDS = {
    "train-detector": _train_detector,
    "export-detector": _export_detector,
    "detector": _detector,
    "object-gru": object_gru,
    "tune-tracking": _tune_tracking,
    "objects-demo": _objects_demo,
}

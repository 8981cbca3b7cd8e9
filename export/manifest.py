"""``manifest.json`` beside the models: each file's sha256, size, kind and spec, plus evaluate figures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from export import __version__
from export.onnx_io import read_metadata
from streamer.modelmeta import decode_metadata

MANIFEST = "manifest.json"
FORMAT = 1
# Files the manifest tracks when present, with their kind for readers that are not ONNX-aware.
TRACKED: dict[str, str] = {
    "frame_cnn.onnx": "model",
    "sequence_gru.onnx": "model",
    "frame_cnn.int8.onnx": "model",
    "sequence_gru.int8.onnx": "model",
    "frame_cnn.pt": "checkpoint",
    "sequence_gru.pt": "checkpoint",
    "demo.mp4": "demo",
    "demo.json": "demo",
    "detector.onnx": "model",
    "detector.int8.onnx": "model",
    "detector.pt": "checkpoint",
    "objects.mp4": "demo",
    "objects.json": "demo",
    "object_gru.onnx": "model",
    "object_gru.pt": "checkpoint",
}


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path, kind: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"sha256": sha256(path), "size": path.stat().st_size, "kind": kind}
    if path.suffix == ".onnx":
        fields = decode_metadata(read_metadata(path), str(path))
        entry["kind"] = fields.get("kind", kind)
        entry["precision"] = "int8" if ".int8." in path.name else "fp32"
        entry["spec"] = fields
    return entry


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """The manifest as a dict (empty when there is none)."""
    path = model_dir / MANIFEST
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write_manifest(model_dir: Path, evaluation: dict[str, Any] | None = None) -> Path:
    """(Re)write the manifest for the tracked files present; keeps earlier figures unless given new ones."""
    previous = read_manifest(model_dir)
    files = {name: _entry(model_dir / name, kind) for name, kind in TRACKED.items() if (model_dir / name).is_file()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "producer": f"streamer-export {__version__}",
        "files": files,
        "evaluation": evaluation if evaluation is not None else previous.get("evaluation", {}),
    }
    path = model_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def check_manifest(model_dir: Path) -> list[str]:
    """Problems found comparing the manifest with the files on disk (empty list when they agree)."""
    manifest = read_manifest(model_dir)
    if not manifest:
        return [f"{model_dir / MANIFEST}: missing"]
    problems = []
    for name, entry in manifest.get("files", {}).items():
        path = model_dir / name
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest but missing")
        elif sha256(path) != entry.get("sha256"):
            problems.append(f"{name}: sha256 differs from the manifest")
    return problems

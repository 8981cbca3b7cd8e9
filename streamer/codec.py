"""Results and status events -> versioned JSON payloads; the schemas they validate against.

Never pickle: the wire format is plain JSON any ZeroMQ library can read.
"""

from __future__ import annotations

import json
import os
import socket
import time
from functools import cache
from importlib import resources
from typing import Any

from streamer.records import Detection, EventMessage, ModelOutput, Result, SequenceOutput, StatusEvent

# 2: detections carry track_id and, with a per-object sequence model, their sequence.
SCHEMA_VERSION = 2
SCHEMAS = ("result", "status", "event")


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a payload kind (``result``, ``status`` or ``event``)."""
    text = resources.files("streamer").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _sequence(seq: SequenceOutput) -> dict[str, Any]:
    return {"model": seq.model, "label": seq.label, "score": seq.score, "steps": seq.steps}


def _detection(d: Detection) -> dict[str, Any]:
    body: dict[str, Any] = {"label": d.label, "score": d.score, "box": list(d.box), "track_id": d.track_id}
    if d.sequence is not None:
        body["sequence"] = _sequence(d.sequence)
    if d.zones:
        body["zones"] = list(d.zones)
    return body


def _model(out: ModelOutput) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": out.kind}
    if out.kind == "classifier":
        body["top"] = [{"label": c.label, "score": c.score} for c in out.top]
    elif out.kind == "detector":
        body["detections"] = [_detection(d) for d in out.detections]
    if out.embedding is not None:
        body["embedding"] = list(out.embedding)
    return body


def result_dict(result: Result, latency_s: float) -> dict[str, Any]:
    """The payload of one result as a dict (schema ``result``)."""
    info = result.info
    seq = result.sequence
    return {
        "v": SCHEMA_VERSION,
        "type": "result",
        "stream": info.stream,
        "seq": info.seq,
        "epoch": info.epoch,
        "t_capture": round(info.t_capture_wall, 6),
        "latency_s": round(max(latency_s, 0.0), 6),
        "frame": {"width": info.width, "height": info.height},
        "models": {o.model: _model(o) for o in result.outputs},
        "sequence": None if seq is None else _sequence(seq),
    }


def encode_result(result: Result, latency_s: float) -> bytes:
    return json.dumps(result_dict(result, latency_s), separators=(",", ":")).encode()


_HOST = socket.gethostname()


def status_dict(event: StatusEvent) -> dict[str, Any]:
    """The payload of a status event as a dict (schema ``status``)."""
    return {
        "v": SCHEMA_VERSION,
        "type": "status",
        "event": event.event,
        "time": round(time.time(), 6),
        "host": _HOST,
        "pid": os.getpid(),
        "stream": event.stream,
        "state": event.state,
        "detail": event.detail,
    }


def encode_status(event: StatusEvent) -> bytes:
    return json.dumps(status_dict(event), separators=(",", ":")).encode()


def event_dict(event: EventMessage) -> dict[str, Any]:
    """The payload of an ``_events`` message as a dict (schema ``event``)."""
    return {"v": SCHEMA_VERSION, "type": "event", "time": round(time.time(), 6), **event.body}


def encode_event(event: EventMessage) -> bytes:
    return json.dumps(event_dict(event), separators=(",", ":")).encode()

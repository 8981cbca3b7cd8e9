"""``streamer check``: validate the config and models and print the plan; opens nothing long-lived."""

from __future__ import annotations

import socket
from pathlib import Path

import zmq

from streamer.batcher import Policy
from streamer.config import Config
from streamer.errors import ConfigError
from streamer.modelset import load_models
from streamer.outputcheck import describe_scoring
from streamer.runtime import available_providers, version
from streamer.sources import SourceKind, plays_offline, resolve


def _probe_endpoint(endpoint: str) -> None:
    """Bind and release the publish endpoint so 'in use' is reported now, not at run time."""
    if not endpoint.startswith("tcp://"):
        return
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise ConfigError(f"publish.endpoint: cannot bind {endpoint}: {exc}") from None
    finally:
        sock.close(linger=0)
        ctx.term()


def _probe_listen(listen: str) -> None:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError as exc:
            raise ConfigError(f"metrics.listen: cannot listen on {listen}: {exc.strerror}") from None


def plan(config: Config, config_path: Path) -> list[str]:
    """Check everything a run would check at start-up; return the plan as printable lines."""
    lines = [f"config: {config_path}", f"onnxruntime {version()}; providers available: {available_providers()}"]
    sources = {s.name: resolve(s, config) for s in config.streams if s.enabled}
    models = load_models(config)
    _probe_endpoint(config.publish.endpoint)
    if config.metrics.enabled:
        _probe_listen(config.metrics.listen)
    lines.append("models:")
    for m in models.all():
        spec = m.spec
        io = ""
        if spec.input is not None:
            i = spec.input
            resize = i.resize if i.resize == "stretch" else f"{i.resize} (fill {i.fill})"
            io = f" input {i.name} {i.layout} {i.height}x{i.width} {i.color_order} {i.dtype} {resize}"
        labels = f", {len(spec.labels)} labels" if spec.labels else ""
        scoring = describe_scoring(spec)
        scoring = f", {scoring}" if scoring else ""
        lines.append(f"  {m.name}: {spec.kind} on {m.provider}{io}{labels}{scoring} ({m.path})")
    if models.sequence is not None:
        st = models.sequence.model.spec.state
        shape = f"[{st.layers}, N, {st.size}]" if st else "?"
        seq = models.sequence
        source = seq.features_from
        if seq.objects_from:
            source = f"each tracked object of {seq.objects_from} (through {seq.features_from})"
        lines.append(f"  {seq.model.name} <- embedding of {source}, state {shape}")
    detectors = [im.model.name for im in models.image if im.model.spec.kind == "detector"]
    if detectors:
        t = config.tracking
        lines.append(
            f"tracking: {', '.join(detectors)}: "
            + (f"ids after {t.confirm_hits} frames, lost tracks kept {t.lost_buffer_s:g} s" if t.enabled else "off")
        )
    lines.append("streams:")
    for s in config.streams:
        if not s.enabled:
            lines.append(f"  {s.name}: disabled")
            continue
        src = sources[s.name]
        policy = Policy.WAIT if plays_offline(src, s) else Policy.LATEST
        extra = ", loop" if s.loop and src.kind is SourceKind.FILE else ""
        fps = f", max {s.max_fps:g} fps" if s.max_fps else ""
        lines.append(f"  {s.name}: {src.kind.value} {src.display} ({policy.value}{extra}{fps})")
    p = config.pipeline
    wait = "when the measured batch cost says it pays" if p.batch_wait == "auto" else "for every stream due"
    lines.append(f"batching: up to {p.max_batch} frames, waiting up to {p.batch_deadline_ms:g} ms {wait}")
    lines.append(f"publish: {config.publish.endpoint}{' (CURVE)' if config.publish.curve else ''}")
    lines.append(f"metrics: {'http://' + config.metrics.listen if config.metrics.enabled else 'disabled'}")
    return lines

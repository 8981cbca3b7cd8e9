"""ONNX Runtime sessions: the only module that imports onnxruntime.

One session per model. Providers come from config, filtered to those this build has, with CPU
always last so a missing GPU degrades instead of failing; the provider really used is read back
from the session. The model's inputs and outputs are checked against its spec at load time and a
warm-up run is made, so a mismatch fails at start-up, never at the first frame.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from streamer.errors import ModelError
from streamer.graph import read_graph
from streamer.machine import cores
from streamer.model_config import ModelConfig
from streamer.modelcheck import SessionInfo, TensorInfo, check_io, graph_defaults
from streamer.modelmeta import merged, metadata_fields, spec_from_fields
from streamer.modelspec import ModelSpec
from streamer.outputcheck import check_probabilities, resolve

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# Batch sizes vary from 1 to max_batch at run time: an exhaustive cuDNN search per new shape would
# stall the first batches of each size, so take the heuristic choice. Grow the arena only by what
# is asked, so memory follows the largest batch instead of doubling past it.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "arena_extend_strategy": "kSameAsRequested"}
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_NP_TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(float16)": np.float16}


def version() -> str:
    return str(ort.__version__)


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


class Model:
    """A loaded, checked and warmed-up model."""

    def __init__(self, name: str, path: Path, spec: ModelSpec, session: Any, io_binding: str = "off") -> None:
        self.name = name
        self.path = path
        self.spec = spec
        self._session = session
        self.provider: str = session.get_providers()[0]
        self.inputs, self.outputs = _tensors(session)
        self._output_names = list(self.outputs)
        self.output_shapes: dict[str, tuple[int, ...]] = {}  # of a batch-1 run, set by the warm-up
        bind = io_binding == "on" or (io_binding == "auto" and self.provider in GPU_PROVIDERS)
        device = "cuda" if self.provider in GPU_PROVIDERS else "cpu"
        self._binding: _Binding | None = None
        if bind:
            self._binding = _Binding(session, self._output_names, device, upload=device != "cpu")

    @property
    def io_binding(self) -> bool:
        return self._binding is not None

    def run(self, feeds: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        """Run one batch; returns every output by name.

        With I/O binding the returned arrays are reused buffers, valid until the next ``run``.
        """
        if self._binding is not None:
            return self._binding.run(feeds)
        values = self._session.run(self._output_names, feeds)
        return dict(zip(self._output_names, values, strict=True))


class _Binding:
    """I/O binding: inputs uploaded once into per-shape device buffers, outputs into reused host buffers.

    On a GPU this makes the host->device copy one explicit transfer of the (uint8 if the graph
    normalises) batch, and the outputs land in host memory allocated once per batch size.
    """

    def __init__(self, session: Any, output_names: list[str], device: str, *, upload: bool) -> None:
        self._session = session
        self._io = session.io_binding()
        self._device = device
        self._upload = upload  # inputs into device OrtValues (GPU) rather than bound host arrays
        self._output_names = output_names
        self._inputs: dict[tuple[str, tuple[int, ...], str], Any] = {}
        self._outputs: dict[tuple[tuple[int, ...], ...], dict[str, npt.NDArray[Any]]] = {}

    def _input(self, name: str, value: npt.NDArray[Any]) -> Any:
        key = (name, value.shape, value.dtype.str)
        ort_value = self._inputs.get(key)
        if ort_value is None:
            ort_value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), self._device, 0)
            self._inputs[key] = ort_value
        else:
            ort_value.update_inplace(np.ascontiguousarray(value))
        return ort_value

    def run(self, feeds: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        io = self._io
        io.clear_binding_inputs()
        io.clear_binding_outputs()
        for name, value in feeds.items():
            if self._upload:
                io.bind_ortvalue_input(name, self._input(name, value))
            else:
                io.bind_cpu_input(name, np.ascontiguousarray(value))
        shapes = tuple(v.shape for v in feeds.values())
        buffers = self._outputs.get(shapes)
        if buffers is None:
            # First batch of this shape: let ONNX Runtime allocate, then keep same-shaped buffers.
            for name in self._output_names:
                io.bind_output(name, "cpu")
            self._session.run_with_iobinding(io)
            values = io.copy_outputs_to_cpu()
            self._outputs[shapes] = {n: np.empty_like(v) for n, v in zip(self._output_names, values, strict=True)}
            return dict(zip(self._output_names, values, strict=True))
        for name, buf in buffers.items():
            io.bind_output(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        self._session.run_with_iobinding(io)
        return dict(buffers)


def _providers(requested: list[str], where: str) -> list[str]:
    have = available_providers()
    chosen = [p for p in requested if p in have]
    for p in requested:
        if p not in have:
            logger.warning("%s: provider %s is not in this onnxruntime build; skipping it", where, p)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def intra_op_threads(cfg: ModelConfig, kind: str | None) -> int:
    """Intra-op threads for a model: the configured number, else a share that leaves the capture threads cores.

    Measured on 2 busy cores: a parallel section stalls until every pool thread gets a core, and
    the capture threads hold them, so a pool as wide as the machine lost throughput. A one-step
    sequence model is microseconds of work per batch: one thread. Image models get half the cores.
    """
    if cfg.intra_op_threads:
        return cfg.intra_op_threads
    if kind == "sequence":
        return 1
    return max(1, cores() // 2)


def _session(path: Path, cfg: ModelConfig, where: str, threads: int) -> Any:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = _OPT_LEVELS[cfg.graph_optimization]
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = threads
    # Spinning intra-op threads busy-wait between runs and starve capture threads on few cores.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if cfg.spin else "0")
    opts.log_severity_level = 3
    names = _providers(cfg.providers, where)
    providers: list[Any] = [(p, CUDA_OPTIONS) if p == "CUDAExecutionProvider" else p for p in names]
    try:
        with warnings.catch_warnings():
            # A provider listed but unusable (e.g. CUDA without a GPU) falls back to CPU. ONNX
            # Runtime would print a red error block for it; silence its logger while the session is
            # made and report the fallback in one line instead.
            warnings.simplefilter("ignore")
            ort.set_default_logger_severity(4)
            try:
                session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
            finally:
                ort.set_default_logger_severity(3)
        used = session.get_providers()[0]
        if used != names[0]:
            logger.warning("%s: %s is not usable on this host; running on %s", where, names[0], used)
        return session
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{where}: {path}: not a loadable ONNX model ({first[:200]})") from None


def warmup_feeds(spec: ModelSpec, batch: int) -> dict[str, npt.NDArray[Any]]:
    """Zero inputs of the right shapes for a batch, as the daemon will feed them."""
    feeds: dict[str, npt.NDArray[Any]] = {}
    if spec.input is not None:
        dtype = np.uint8 if spec.input.dtype == "uint8" else np.float32
        feeds[spec.input.name] = np.zeros(spec.input.shape(batch), dtype=dtype)
    if spec.features_input is not None and spec.feature_size is not None:
        feeds[spec.features_input] = np.zeros((batch, spec.feature_size), dtype=np.float32)
    if spec.state is not None:
        feeds[spec.state.input] = np.zeros((spec.state.layers, batch, spec.state.size), dtype=np.float32)
    return feeds


def _warm_up(model: Model, max_batch: int, where: str) -> dict[str, tuple[int, ...]]:
    """Run once at batch 1 and at max batch so the first real frames are not slow, and check outputs.

    Returns the shapes of the batch-1 outputs.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for batch in sorted({1, max_batch}):
        try:
            out = model.run(warmup_feeds(model.spec, batch))
        except Exception as exc:  # onnxruntime's errors are untyped
            msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{where}: warm-up run at batch {batch} failed: {msg}") from None
        if batch == 1:
            shapes = {name: tuple(int(d) for d in value.shape) for name, value in out.items()}
        logits_name = model.spec.output("logits")
        if logits_name is not None and model.spec.labels:
            logits = out[logits_name]
            if logits.ndim != 2 or logits.shape[0] != batch or logits.shape[1] != len(model.spec.labels):
                raise ModelError(
                    f"{where}.labels: output {logits_name!r} has shape {list(logits.shape)} at batch {batch}, "
                    f"expected [{batch}, {len(model.spec.labels)}] (one score per label); give one label per score"
                )
            check_probabilities(model.spec, logits, where)
        emb_name = model.spec.output("embedding")
        if emb_name is not None and (out[emb_name].ndim == 0 or out[emb_name].shape[0] != batch):
            raise ModelError(f"{where}.outputs: output {emb_name!r} does not follow the batch size")
        boxes_name = model.spec.output("boxes")
        if boxes_name is not None and (out[boxes_name].ndim == 0 or out[boxes_name].shape[0] != batch):
            raise ModelError(f"{where}.outputs: output {boxes_name!r} does not follow the batch size")
    return shapes


def _tensors(session: Any) -> tuple[dict[str, TensorInfo], dict[str, TensorInfo]]:
    """A session's inputs and outputs by name."""
    inputs = {i.name: TensorInfo(i.name, tuple(i.shape), i.type) for i in session.get_inputs()}
    return inputs, {o.name: TensorInfo(o.name, tuple(o.shape), o.type) for o in session.get_outputs()}


def inspect(path: Path) -> SessionInfo:
    """Open ``path`` on the CPU and describe it, running it once on zeros when its input shapes are fixed."""
    if not path.is_file():
        raise ModelError(f"--model: no such model file: {path}")
    session = _session(path, ModelConfig(path=str(path)), "--model", 1)
    inputs, outputs = _tensors(session)
    shapes: dict[str, tuple[int, ...]] = {}
    # Batch 1 where the graph fixes every other dim; a graph with symbolic sizes keeps its declared shapes.
    with contextlib.suppress(Exception):
        feeds = {i.name: np.zeros([1, *cast(Any, i.shape[1:])], _NP_TYPES[i.type]) for i in inputs.values()}
        shapes = {n: v.shape for n, v in zip(outputs, session.run(list(outputs), feeds), strict=True)}
    return SessionInfo(inputs, outputs, dict(session.get_modelmeta().custom_metadata_map), shapes)


def _check_readable(path: Path, where: str) -> None:
    """Fail with one line naming the path when the model cannot be read (missing, a directory, or
    not readable by this user, e.g. a root-only models folder under a systemd DynamicUser)."""
    try:
        if not path.exists():
            raise ModelError(f"{where}.path: no such file: {path}")
        if not path.is_file():
            raise ModelError(f"{where}.path: not a file: {path}")
        with open(path, "rb"):
            pass
    except PermissionError:
        raise ModelError(f"{where}.path: permission denied: {path} (the daemon's user cannot read it)") from None
    except OSError as exc:
        raise ModelError(f"{where}.path: cannot read {path}: {exc.strerror}") from None


def load_model(name: str, path: Path, cfg: ModelConfig, max_batch: int) -> Model:
    """Open, describe, check and warm up one model; every failure is a ModelError naming it."""
    where = f"models.{name}"
    _check_readable(path, where)
    threads = intra_op_threads(cfg, cfg.kind)
    session = _session(path, cfg, where, threads)
    props = dict(session.get_modelmeta().custom_metadata_map)
    fields = graph_defaults(merged(metadata_fields(props, where), cfg.spec_overrides()), *_tensors(session))
    spec = spec_from_fields(fields, where).validated(where)
    if intra_op_threads(cfg, spec.kind) != threads:
        # The kind was only known from the model's metadata: reopen with its thread count.
        session = _session(path, cfg, where, intra_op_threads(cfg, spec.kind))
    model = Model(name, path, spec, session, cfg.io_binding)
    check_io(model.spec, model.inputs, model.outputs, where)
    model.output_shapes = _warm_up(model, max_batch, where)
    model.spec = resolve(model.spec, model.output_shapes, read_graph(path), where)
    binding = ", I/O binding" if model.io_binding else ""
    logger.info("model %s: %s (%s) on %s%s", name, path.name, spec.kind, model.provider, binding)
    return model

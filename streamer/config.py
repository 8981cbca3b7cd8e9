"""The configuration file: TOML, validated once at start-up by pydantic, unknown keys rejected.

Every mistake becomes a :class:`~streamer.errors.ConfigError` whose message is one line naming the
file and the key, e.g. ``config.toml: streams[1].max_fps: Input should be greater than 0``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from streamer.errors import ConfigError
from streamer.events_config import EventsConfig
from streamer.model_config import ModelConfig
from streamer.preview_config import PreviewConfig
from streamer.strict import Strict
from streamer.zones_config import LineConfig, ZoneConfig, unique_names

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5556"
DEFAULT_METRICS = "127.0.0.1:9108"
STATUS_TOPIC = "_status"
EVENTS_TOPIC = "_events"
NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://", "srt://")

PositiveFloat = Annotated[float, Field(gt=0)]
# An hour bounds every wait: longer is a typo, and huge values overflow OpenCV's millisecond timeouts.
Seconds = Annotated[float, Field(gt=0, le=3600)]
Decoder = Literal["opencv", "pyav"]  # what decodes files and network sources ([capture] decoder)


class CurveConfig(Strict):
    """ZeroMQ CURVE: the server's secret key and the directory of client public keys allowed in."""

    secret_key_file: str
    authorized_keys_dir: str


class PublishConfig(Strict):
    endpoint: str = DEFAULT_ENDPOINT
    send_hwm: int = Field(default=1000, ge=1)
    queue_size: int = Field(default=256, ge=1)
    # The most JSON one message may carry: models whose outputs could exceed it are refused at load.
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    curve: CurveConfig | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not re.match(r"^(tcp|ipc|inproc)://.+", v):
            raise ValueError("must look like tcp://HOST:PORT or ipc://PATH")
        return v


class MetricsConfig(Strict):
    enabled: bool = True
    listen: str = DEFAULT_METRICS
    # A stream whose newest frame is older than this makes /healthz unhealthy.
    health_max_age_s: Seconds = 5.0
    # The HTTP port's bounds: open connections (at the bound the longest-idle one is closed to make
    # room), time for a new connection to send its first request, and between two requests.
    max_connections: int = Field(default=1024, ge=1, le=100_000)
    header_timeout_s: Seconds = 10.0
    idle_timeout_s: Seconds = 60.0

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9108")
        return v


class PipelineConfig(Strict):
    max_batch: int = Field(default=8, ge=1, le=256)
    # How long the batcher waits for more streams once one frame is ready.
    batch_deadline_ms: float = Field(default=4.0, ge=0, le=1000)
    # "auto": wait only while the measured batch costs say batching saves more than the wait adds
    # (on a CPU, rarely); "fill": wait up to the deadline for every stream whose frame is due.
    batch_wait: Literal["auto", "fill"] = "auto"
    # A gap longer than this between two frames of a stream resets its sequence state.
    state_reset_gap_s: Seconds = 2.0
    # A stage whose loop has not turned for this long is stalled: /healthz fails and the systemd
    # watchdog is no longer fed. Longer than any bounded wait (open and read timeouts, backoff steps).
    stall_after_s: Seconds = 15.0


class CaptureConfig(Strict):
    open_timeout_s: Seconds = 5.0
    read_timeout_s: Seconds = 3.0
    # Reads in a row that may return no frame (corrupt, undecodable) before a source counts as lost;
    # a run lasting read_timeout_s is lost sooner. Each corrupt frame is a drop, reason "corrupt".
    max_corrupt_run: int = Field(default=50, ge=1, le=100_000)
    backoff_initial_s: Seconds = 0.5
    backoff_max_s: Seconds = 10.0
    # Niceness added to each capture thread of a live source (0 = none). Decoding runs in as many
    # threads as there are streams while inference is one serial stage: ranking it first keeps it
    # on a core. Not too far first: under overload, capture must still decode every frame to keep
    # up with its camera (at +10 it fell up to 0.9 s behind at 150 % load; at +5 within 20 ms).
    thread_nice: int = Field(default=5, ge=0, le=19)
    # The same for files played offline (realtime = false): they have no camera to keep up with and
    # wait for inference anyway, so inference may rank further ahead (+10: 8 % more frames/s).
    offline_thread_nice: int = Field(default=10, ge=0, le=19)
    # Capture (decode + preprocess) runs in this many worker processes, each owning a share of the
    # streams and handing prepared frames over shared memory, so decoding scales past one
    # interpreter's GIL. 0 keeps every capture thread inside the daemon's own process; "auto" uses
    # one process per stream up to the cores (0 on a machine with two cores or fewer).
    workers: int | Literal["auto"] = Field(default="auto")
    # Decoder threads FFmpeg may use per stream; 0 = share the cores between the streams.
    decoder_threads: int = Field(default=0, ge=0, le=64)
    # What decodes files and network sources: "pyav" (PyAV, FFmpeg's libraries), which publishes
    # each frame at its real size when a source changes resolution mid-stream and hands capture a
    # 4:2:0 frame's planes, so only the model-sized input is colour-converted; or "opencv", which
    # converts every whole frame to BGR at the first frame's size. Devices always use OpenCV.
    decoder: Decoder = "pyav"

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 0 <= v <= 256:
            raise ValueError('must be "auto" or a number of processes from 0 to 256')
        return v

    @model_validator(mode="after")
    def _order(self) -> CaptureConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        if self.decoder == "pyav" and importlib.util.find_spec("av") is None:
            raise ValueError('decoder = "pyav" needs PyAV (pip install av), or set decoder = "opencv"')
        return self


class TrackingConfig(Strict):
    """The per-stream multi-object tracker run on every detector's output (see docs/objects.md)."""

    enabled: bool = True
    high_score: float = Field(default=0.5, gt=0, le=1)
    low_score: float = Field(default=0.1, ge=0, le=1)
    new_track_score: float = Field(default=0.6, gt=0, le=1)
    match_iou: float = Field(default=0.2, gt=0, le=1)
    low_match_iou: float = Field(default=0.5, gt=0, le=1)
    tentative_match_iou: float = Field(default=0.3, gt=0, le=1)
    confirm_hits: int = Field(default=2, ge=1, le=100)
    lost_buffer_s: Seconds = 1.0

    @model_validator(mode="after")
    def _order(self) -> TrackingConfig:
        if not self.low_score <= self.high_score <= self.new_track_score:
            raise ValueError("scores must satisfy low_score <= high_score <= new_track_score")
        return self


class StreamConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    source: int | str
    enabled: bool = True
    # Files only: pace at the file's native fps like a camera (newest frame wins), or as fast as
    # possible with back-pressure (no frame lost).
    realtime: bool = True
    loop: bool = False
    max_fps: PositiveFloat | None = None
    # RTSP credentials kept out of the URL: the password comes from a file or a systemd credential.
    username: str | None = None
    password_file: str | None = None
    password_credential: str | None = None
    # Zones and lines for the tracked objects of this stream's detectors (see streamer.zones_config).
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    # Frames an object must stay on the new side of a line, or in or out of a zone, for it to count.
    zone_min_frames: int = Field(default=3, ge=1, le=1000)

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise ValueError("must be a device index, a device path, a URL or a video file path")
        if isinstance(v, int):
            if v < 0:
                raise ValueError("a device index must be >= 0")
        elif not v.strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _secrets(self) -> StreamConfig:
        if self.password_file and self.password_credential:
            raise ValueError("give password_file or password_credential, not both")
        unique_names(self.zones, self.lines)
        return self


class Config(Strict):
    publish: PublishConfig = Field(default_factory=PublishConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    preview: PreviewConfig = Field(default_factory=PreviewConfig)
    models: dict[str, ModelConfig] = Field(min_length=1)
    streams: list[StreamConfig] = Field(default_factory=list)
    # Where relative paths are anchored: the config file's folder (set by load_config).
    base_dir: str = "."

    @field_validator("streams")
    @classmethod
    def _unique_names(cls, v: list[StreamConfig]) -> list[StreamConfig]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate stream name {dupes[0]!r}")
        return v

    @field_validator("models")
    @classmethod
    def _model_links(cls, v: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        for name, model in v.items():
            if not re.match(r"^[A-Za-z0-9_.-]+$", name):
                raise ValueError(f"model name {name!r} may hold only letters, digits, '_', '.', '-'")
            if model.features is not None and model.features not in v:
                raise ValueError(f"{name}.features names no model {model.features!r}")
            if model.objects is not None and model.objects not in v:
                raise ValueError(f"{name}.objects names no model {model.objects!r}")
        return v

    @model_validator(mode="after")
    def _objects_need_tracks(self) -> Config:
        for name, model in self.models.items():
            if model.objects is not None and not self.tracking.enabled:
                raise ValueError(f"models.{name}.objects: steps over tracked objects, but tracking.enabled is false")
        return self

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file."""
        p = Path(os.path.expandvars(os.path.expanduser(path)))
        return p if p.is_absolute() else Path(self.base_dir) / p

    def stream(self, name: str) -> StreamConfig:
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(name)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    # Union members add their type name to the location; drop those for a readable key.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("int", "str"))))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    extra = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{_loc(loc)}: {msg}{extra}"


def parse_config(data: dict[str, Any], base_dir: Path, where: str) -> Config:
    """Validate already-parsed TOML data; raise ConfigError naming the key."""
    if "base_dir" in data:
        raise ConfigError(f"{where}: base_dir: unknown key")
    try:
        return Config.model_validate({**data, "base_dir": str(base_dir)})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_message(exc)}") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; every failure is a one-line ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_config(data, path.resolve().parent, str(path))

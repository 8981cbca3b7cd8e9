"""What a configured source is, and how OpenCV opens it with bounded timeouts."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from streamer.config import NETWORK_SCHEMES, CaptureConfig, Config, StreamConfig
from streamer.credentials import read_secret, redact, with_credentials
from streamer.decode_av import AvCapture
from streamer.errors import ConfigError
from streamer.opengate import FFMPEG_OPENS
from streamer.picture import Picture

logger = logging.getLogger(__name__)

FALLBACK_FPS = 25.0
Capture = cv2.VideoCapture | AvCapture  # an opened source, whichever decoder reads it
# TCP interleaving avoids UDP loss and NAT trouble; set once, before the first open, unless the
# operator set their own options in the environment.
DEFAULT_FFMPEG_OPTIONS = "rtsp_transport;tcp"


class SourceKind(StrEnum):
    DEVICE = "device"
    NETWORK = "network"
    FILE = "file"


@dataclass(frozen=True)
class Source:
    """A resolved source: what to hand OpenCV (may hold a secret) and what to show people (never)."""

    kind: SourceKind
    target: int | str
    display: str

    @property
    def live(self) -> bool:
        return self.kind is not SourceKind.FILE


def plays_offline(source: Source, stream: StreamConfig) -> bool:
    """A file read as fast as inference takes it (``realtime = false``): no frame is dropped or late."""
    return source.kind is SourceKind.FILE and not stream.realtime


def resolve(stream: StreamConfig, config: Config) -> Source:
    """Classify and resolve a stream's source; raise ConfigError for a path that cannot be a video."""
    where = f"streams[{stream.name}].source"
    src = stream.source
    if isinstance(src, int):
        return Source(SourceKind.DEVICE, src, f"device {src}")
    if re.fullmatch(r"/dev/video\d+", src):
        return Source(SourceKind.DEVICE, int(src.removeprefix("/dev/video")), src)
    if src.lower().startswith(NETWORK_SCHEMES):
        password = None
        if stream.password_file or stream.password_credential:
            password = read_secret(
                f"streams[{stream.name}]",
                file=stream.password_file,
                credential=stream.password_credential,
                base=Path(config.base_dir),
            )
        url = with_credentials(src, stream.username, password)
        return Source(SourceKind.NETWORK, url, redact(url))
    path = config.resolve(src)
    if not path.exists():
        raise ConfigError(f"{where}: no such file: {path}")
    if path.is_dir():
        raise ConfigError(f"{where}: is a directory, not a video file: {path}")
    return Source(SourceKind.FILE, str(path), str(path))


# FFmpeg prints a line per undecodable frame ("No JPEG data found in image"): a feed with every
# third JPEG corrupt wrote several lines a second per camera, past --log-level. The daemon counts
# those frames (frames_dropped_total{reason="corrupt"}) instead; OPENCV_FFMPEG_LOGLEVEL=16 brings
# FFmpeg's errors back.
DEFAULT_FFMPEG_LOGLEVEL = "-8"  # AV_LOG_QUIET


def configure_ffmpeg(options: str = DEFAULT_FFMPEG_OPTIONS) -> None:
    """Default FFmpeg capture options for network sources and a quiet FFmpeg log, unless the environment
    sets them (before the first open: OpenCV reads both once)."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", options)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", DEFAULT_FFMPEG_LOGLEVEL)


def decoder_threads(cfg: CaptureConfig, streams: int, cores: int) -> int:
    """FFmpeg decoder threads per stream: the configured number, else the cores shared between the streams.

    Left to itself FFmpeg starts as many threads per stream as the machine has cores, so N streams
    run N x cores decoder threads that take turns on the same cores.
    """
    if cfg.decoder_threads:
        return cfg.decoder_threads
    return max(1, cores // max(1, streams))


def open_capture(
    source: Source,
    cfg: CaptureConfig,
    priority: int = 0,
    keep_alive: Callable[[], bool] = lambda: True,
    threads: int = 0,
) -> Capture | None:
    """Open a source with bounded open/read timeouts; None if it cannot be opened now.

    OpenCV's FFmpeg opens take turns at :data:`FFMPEG_OPENS` (``priority`` and ``keep_alive`` are its);
    None as well if ``keep_alive`` gave up while waiting. ``threads`` > 0 caps FFmpeg's decoder threads.
    With ``decoder = "pyav"`` files and network sources open with PyAV instead (:mod:`streamer.decode_av`).
    """
    cap: Capture
    if source.kind is SourceKind.DEVICE:
        cap = cv2.VideoCapture(int(source.target), cv2.CAP_V4L2 if os.name == "posix" else cv2.CAP_ANY)
    elif cfg.decoder == "pyav":
        # PyAV's FFmpeg is its own: OpenCV's open lock (the gate) does not hold it up.
        if not keep_alive():
            return None
        cap = AvCapture(str(source.target), cfg.open_timeout_s, cfg.read_timeout_s, threads)
    else:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(cfg.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(cfg.read_timeout_s * 1000),
        ]
        if threads > 0:
            params += [cv2.CAP_PROP_N_THREADS, threads]
        if not FFMPEG_OPENS.acquire(priority, keep_alive):
            return None
        try:
            cap = cv2.VideoCapture(str(source.target), cv2.CAP_FFMPEG, params)
        finally:
            FFMPEG_OPENS.release()
    if not cap.isOpened():
        cap.release()
        return None
    return cap


def retrieve(cap: Capture) -> Picture | None:
    """The grabbed frame: PyAV's 4:2:0 planes as they are, else BGR; None if it did not decode."""
    if isinstance(cap, AvCapture):
        return cap.retrieve_picture()
    ok, image = cap.retrieve()
    return image.astype(np.uint8, copy=False) if ok and image is not None else None


def native_fps(cap: Capture) -> float:
    """The stream's declared frame rate, or a sane fallback when the container lies."""
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        return FALLBACK_FPS
    return fps


def declared_frames(cap: Capture) -> int | None:
    """The frame count a file's container declares, or None when it gives none worth believing."""
    count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if not math.isfinite(count) or count < 2 or count > 1e9:
        return None
    return int(count)

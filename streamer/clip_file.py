"""One clip being written: an H.264 MP4 (PyAV) and its JSON sidecar, under temporary names until whole."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av
import cv2

from streamer.clip_ring import RingFrame
from streamer.clip_store import ClipPaths
from streamer.records import Image

MS = Fraction(1, 1000)
SIDECAR_VERSION = 1


@dataclass(frozen=True)
class ClipSpec:
    """A clip a recorder has begun: who it is for and where it goes."""

    clip_id: int
    stream: str
    rule: str
    paths: ClipPaths


class ClipFile:
    """Frames in, a finished clip out. Every file error is raised (OSError, av.FFmpegError) for the
    writer to count; after one, ``abort`` cleans up."""

    def __init__(self, spec: ClipSpec, crf: int, threads: int):
        self.spec = spec
        self.crf = crf
        self.threads = threads
        self.last_result: Mapping[str, Any] | None = None  # the newest result seen: drawn on later frames
        self._container: Any = None  # av's OutputContainer, opened at the first frame (its size is the clip's)
        self._video: Any = None
        self.size = (0, 0)
        self._t0 = self._t_last = 0.0
        self._last_pts = -1
        self._rows: list[dict[str, Any]] = []

    @property
    def frames(self) -> int:
        return len(self._rows)

    @property
    def seconds(self) -> float:
        """From the first frame's capture to the last's, plus one frame."""
        n = len(self._rows)
        return (self._t_last - self._t0) * n / (n - 1) if n > 1 else 0.0

    def add(self, frame: RingFrame, image: Image) -> None:
        """Encode one frame (``image``: its picture, decoded and drawn on)."""
        if self._container is None:
            self._begin(image, frame.info.t_capture_mono)
        if (image.shape[1], image.shape[0]) != self.size:  # the camera came back at another size
            image = cast(Image, cv2.resize(image, self.size, interpolation=cv2.INTER_AREA))
        # Timestamps are the capture times: a camera that skips frames gives a variable frame rate.
        pts = max(round((frame.info.t_capture_mono - self._t0) * 1000), self._last_pts + 1)
        out = av.VideoFrame.from_ndarray(image, format="bgr24")
        out.pts, out.time_base = pts, MS
        for packet in self._video.encode(out):
            self._container.mux(packet)
        self._last_pts, self._t_last = pts, frame.info.t_capture_mono
        info = frame.info
        row = {"seq": info.seq, "epoch": info.epoch, "t_capture": info.t_capture_wall, "pts_s": pts / 1000}
        self._rows.append({**row, "result": frame.result})

    def finish(self, cut_short: bool) -> int:
        """Flush, close, sync and rename both files to their final names; their bytes."""
        paths = self.spec.paths
        container, self._container = self._container, None  # closed or broken: never closed twice
        for packet in self._video.encode():
            container.mux(packet)
        container.close()
        _fsync(paths.mp4_part)
        sidecar = self._sidecar(cut_short)
        paths.sidecar_part.write_bytes(sidecar)
        _fsync(paths.sidecar_part)
        os.replace(paths.mp4_part, paths.mp4)  # the video first: a clip without a sidecar still plays
        os.replace(paths.sidecar_part, paths.sidecar)
        return paths.mp4.stat().st_size + len(sidecar)

    def abort(self) -> None:
        """Close what is open and delete the temporaries, as far as the disk lets us."""
        if self._container is not None:
            with contextlib.suppress(OSError, av.FFmpegError):  # the disk that failed it may fail this too
                self._container.close()
            self._container = None
        for path in (self.spec.paths.mp4_part, self.spec.paths.sidecar_part):
            with contextlib.suppress(OSError):  # a read-only disk keeps it; the next start removes it
                path.unlink(missing_ok=True)

    def _begin(self, image: Image, t0: float) -> None:
        paths = self.spec.paths
        paths.mp4.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(paths.mp4_part), "w", format="mp4")
        video = self._container.add_stream("libx264", rate=25)  # a nominal rate: the pts carry the real times
        video.width, video.height = image.shape[1], image.shape[0]
        video.pix_fmt = "yuv420p"
        video.time_base = video.codec_context.time_base = MS
        video.codec_context.thread_count = self.threads
        video.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._video, self.size, self._t0 = video, (image.shape[1], image.shape[0]), t0

    def _sidecar(self, cut_short: bool) -> bytes:
        s = self.spec
        body = {
            "v": SIDECAR_VERSION,
            "stream": s.stream,
            "rule": s.rule,
            "video": s.paths.mp4.name,
            "width": self.size[0],
            "height": self.size[1],
            "cut_short": cut_short,
            "frames": self._rows,
        }
        return json.dumps(body, separators=(",", ":")).encode()


def _fsync(path: os.PathLike[str]) -> None:
    """Flush a file to disk before it is renamed, so a power cut cannot leave a truncated final file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

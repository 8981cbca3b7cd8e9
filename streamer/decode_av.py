"""A video source read with PyAV (FFmpeg's libraries), behind the part of ``cv2.VideoCapture`` that
capture uses: ``grab``/``retrieve``, ``get`` of the frame rate and count, a rewind, ``release``.

OpenCV's FFmpeg backend converts every frame to the size of the first one: a camera or a file
that changes its resolution mid-stream is published at the old size, its boxes in the wrong
pixels, silently. Here each frame comes at the size the decoder gives it. A frame that fails to
decode makes ``grab`` return False and the next call goes on with the next packet, as OpenCV's
does; the end of the source (or a read timeout) makes every later call return False.

Capture takes a 4:2:0 frame as its planes (:meth:`AvCapture.retrieve_picture`, no colour
conversion): preprocessing converts only the model-sized result (:mod:`streamer.picture`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from streamer.credentials import redact
from streamer.picture import ColourMatrix, Picture, Plane, Yuv420

logger = logging.getLogger(__name__)


def _av() -> Any:
    """PyAV, imported on first use: its FFmpeg libraries cost a process that never uses them ~20 MB.

    An optional dependency: ``[capture] decoder = "pyav"`` needs it, checked with the config.
    """
    import av

    return av


def capture_options(env: str | None = None) -> dict[str, str]:
    """FFmpeg options from ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``), so both
    decoders read the same setting."""
    text = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS", "") if env is None else env
    out: dict[str, str] = {}
    for item in text.split("|"):
        key, sep, value = item.partition(";")
        if key and sep:
            out[key] = value
    return out


# Pixel formats handed on as planes; any other is converted to BGR by the decoder as before.
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})
# Calibration samples: Y, U and V levels whose BGR stays inside 0-255 in every standard and range,
# so the fit sees the conversion itself, never its clipping.
_LEVELS_Y = (90, 128, 166)
_LEVELS_C = (114, 128, 142)
_CALIBRATION = threading.Lock()


@functools.cache
def colour_matrix(pix_fmt: str, colorspace: int, color_range: int) -> ColourMatrix:
    """FFmpeg's own YUV -> BGR conversion for frames tagged so, as a 3 x 4 affine map.

    Measured rather than written out: uniform frames of known levels go through the same
    conversion a whole frame gets (``to_ndarray(format="bgr24")``, libswscale, honouring the
    frame's colour standard and range) and a least-squares fit recovers the map, exact to its
    rounding (half a level). So a picture converted small matches the decoder's conversion of the
    whole, whatever the FFmpeg build does. One fit per tagging, about 2 ms, cached.
    """
    av = _av()
    with _CALIBRATION:
        frame = av.VideoFrame(16, 16, pix_fmt)
        frame.colorspace = colorspace
        frame.color_range = color_range
        rows: list[tuple[int, int, int, int]] = []
        outs: list[Any] = []
        for y in _LEVELS_Y:
            for u in _LEVELS_C:
                for v in _LEVELS_C:
                    for plane, level in zip(frame.planes, (y, u, v), strict=True):
                        np.frombuffer(plane, np.uint8)[:] = level
                    outs.append(frame.to_ndarray(format="bgr24")[8, 8].astype(np.float64))
                    rows.append((y, u, v, 1))
    fit = np.linalg.lstsq(np.asarray(rows, np.float64), np.asarray(outs), rcond=None)[0]
    return np.ascontiguousarray(fit.T, dtype=np.float32)


def _plane(plane: Any) -> Plane:
    """A plane of a decoded frame as a (height, width) view of the decoder's buffer, no copy."""
    rows = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]


def picture_of(frame: Any) -> Picture:
    """A decoded frame as its planes (4:2:0 formats), else converted to BGR."""
    if frame.format.name in PLANAR_420:
        y, u, v = (_plane(p) for p in frame.planes)
        matrix = colour_matrix(frame.format.name, int(frame.colorspace), int(frame.color_range))
        return Yuv420(y, u, v, matrix, functools.partial(frame.to_ndarray, format="bgr24"))
    image: np.ndarray[Any, Any] = frame.to_ndarray(format="bgr24")
    return image


class AvCapture:
    """One opened source. Not thread-safe: its capture thread owns it, as it owns a VideoCapture."""

    def __init__(self, target: str, open_timeout_s: float, read_timeout_s: float, threads: int = 0) -> None:
        av = self._av = _av()
        self._container: Any = None
        self._frame: Any = None
        self._ended = False
        try:
            self._container = av.open(
                target,
                "r",
                options=capture_options(),
                timeout=(open_timeout_s, read_timeout_s),
                metadata_errors="replace",  # a hostile source's tags must not fail the open
            )
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError, OSError, ValueError) as exc:
            logger.debug("cannot open %s: %s", redact(target), redact(str(exc)))
            self.release()
            return
        ctx = self._stream.codec_context
        if ctx is None:  # a video stream in a codec FFmpeg cannot decode
            logger.debug("cannot open %s: no decoder for its video stream", redact(target))
            self.release()
            return
        if threads > 0:
            ctx.thread_count = threads
        ctx.thread_type = "AUTO"
        self._packets: Iterator[Any] = self._container.demux(self._stream)
        self._pending: list[Any] = []

    def isOpened(self) -> bool:  # the VideoCapture name
        return self._container is not None

    def grab(self) -> bool:
        """Decode the next frame; False for a frame that did not decode, and at the end."""
        if self._container is None or self._ended:
            return False
        while not self._pending:
            try:
                packet = next(self._packets)
            except StopIteration:
                self._ended = True
                return False
            except (self._av.FFmpegError, OSError) as exc:  # a read error or timeout: the source is gone
                logger.debug("read failed: %s", redact(str(exc)))
                self._ended = True
                return False
            try:
                self._pending = list(self._stream.codec_context.decode(packet))
            except (self._av.FFmpegError, ValueError) as exc:  # this packet does not decode: a corrupt frame
                logger.debug("frame does not decode: %s", redact(str(exc)))
                return False
            if packet.size == 0 and not self._pending:  # the decoder is drained: the end
                self._ended = True
                return False
        self._frame = self._pending.pop(0)
        return True

    def retrieve(self) -> tuple[bool, np.ndarray[Any, Any] | None]:
        """The last grabbed frame as BGR ``uint8``, at its own size."""
        if self._frame is None:
            return False, None
        try:
            image = self._frame.to_ndarray(format="bgr24")
        except (self._av.FFmpegError, ValueError) as exc:
            logger.debug("cannot convert a frame: %s", redact(str(exc)))
            return False, None
        return True, image

    def retrieve_picture(self) -> Picture | None:
        """The last grabbed frame at its own size: its planes where it is 4:2:0, no conversion yet."""
        if self._frame is None:
            return None
        try:
            return picture_of(self._frame)
        except (self._av.FFmpegError, ValueError) as exc:
            logger.debug("cannot convert a frame: %s", redact(str(exc)))
            return None

    def read(self) -> tuple[bool, np.ndarray[Any, Any] | None]:
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        """The frame rate and frame count the container declares (0 when unknown)."""
        if self._container is None:
            return 0.0
        if prop == cv2.CAP_PROP_FPS:
            rate = self._stream.average_rate or self._stream.guessed_rate
            return float(rate) if rate else 0.0
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(self._stream.frames or 0)
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        """Only a rewind to the first frame (``CAP_PROP_POS_FRAMES``, 0) is supported."""
        if self._container is None or prop != cv2.CAP_PROP_POS_FRAMES or value != 0:
            return False
        try:
            self._container.seek(0, stream=self._stream)
            self._stream.codec_context.flush_buffers()
        except (self._av.FFmpegError, OSError) as exc:
            logger.debug("cannot rewind: %s", redact(str(exc)))
            return False
        self._packets = self._container.demux(self._stream)
        self._pending = []
        self._frame = None
        self._ended = False
        return True

    def release(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # closing a broken connection must not raise
                self._container.close()
        self._container = None
        self._frame = None

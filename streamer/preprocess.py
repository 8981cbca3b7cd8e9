"""Frame -> model input: resize (stretch, letterbox or pad), colour order, normalisation, layout.

Pure functions writing into caller-owned buffers, so the capture thread can fill a preallocated
slot without allocating a tensor per frame. OpenCV and NumPy release the GIL while they work.
The export tooling trains the reference models through :func:`resize` too, so training and
serving see the same pixels.
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from streamer.modelspec import LETTERBOX_FILL, InputSpec
from streamer.picture import Picture, Yuv420, picture_size
from streamer.records import Image, Transform

# Shrinking by 4 or more first halves the image (a 2 x 2 box average: OpenCV's vectorised INTER_AREA
# path for a factor of exactly 2, 0.07 ms for a 1080p plane, where other integer factors take 0.6 ms)
# while it stays at least twice the target. Then it supersamples: bilinear to k times the target
# size, then an exact k x k box average (OpenCV's integer-factor INTER_AREA path). With
# k = ceil(ratio / 2) the bilinear step shrinks by at most 2, so it skips no source row or column.
# Measured on a 1080p luma plane -> 224x224 (one thread, 2-core EPYC): plain INTER_AREA 4.2 ms, this
# 0.49 ms (0.66 ms without the halving); plain INTER_LINEAR 0.07 ms but aliased. Against INTER_AREA
# on fine sinusoidal patterns (tests/streamer/test_preprocess.py) it is as close as supersampling
# alone or closer (mean 2.0-2.5 grey levels where that gave 3.8-7.7); halving further down, to twice
# the target, measured 0.29 ms but up to 7 levels off. Beyond k = 3 the cost grows faster than the
# error falls.
SUPERSAMPLE_MAX = 3


def supersample(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int]:
    """The per-axis supersampling factors for shrinking (1 on an axis that does not shrink by 2 or more)."""
    kx = min(SUPERSAMPLE_MAX, max(1, math.ceil(src_w / dst_w / 2)))
    ky = min(SUPERSAMPLE_MAX, max(1, math.ceil(src_h / dst_h / 2)))
    return kx, ky


def halved(image: Image, w: int, h: int) -> Image:
    """``image`` halved (2 x 2 box averages) while it is at least 4 ``w`` x 4 ``h`` and its sides are even."""
    src_h, src_w = image.shape[:2]
    while src_w >= 4 * w and src_h >= 4 * h and src_w % 2 == 0 and src_h % 2 == 0:
        src_w, src_h = src_w // 2, src_h // 2
        image = cast(Image, cv2.resize(image, (src_w, src_h), interpolation=cv2.INTER_AREA))
    return image


def resize(image: Image, size: tuple[int, int], dst: Image | None = None) -> Image:
    """``image`` resized to ``size`` (width, height): halved and supersampled when shrinking, bilinear otherwise."""
    w, h = size
    image = halved(image, w, h)
    src_h, src_w = image.shape[:2]
    kx, ky = supersample(src_w, src_h, w, h)
    if kx == 1 and ky == 1:
        shrink = w < src_w or h < src_h
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return cast(Image, cv2.resize(image, size, dst=dst, interpolation=interp))
    big = cv2.resize(image, (w * kx, h * ky), interpolation=cv2.INTER_LINEAR)
    return cast(Image, cv2.resize(big, size, dst=dst, interpolation=cv2.INTER_AREA))


def resize_picture(picture: Picture, size: tuple[int, int], dst: Image | None = None) -> Image:
    """``picture`` resized to ``size`` in BGR.

    Planes are each resized to ``size`` (chroma too: at half the model's resolution a sharp colour
    edge would blur across two pixels), then converted with the decoder's own matrix, so the model
    sees what :func:`resize` of the decoder's whole-frame conversion gives, to a grey level or two,
    without converting the whole frame.
    """
    if not isinstance(picture, Yuv420):
        return resize(picture, size, dst)
    u, v = picture.u, picture.v
    if size[0] > u.shape[1] or size[1] > u.shape[0]:
        # Growing chroma: the decoder's conversion repeats each chroma sample over its 2 x 2
        # pixels (no interpolation), so do the same first, or colour edges come out softer.
        full = (picture.width, picture.height)
        u = cast(Image, cv2.resize(u, full, interpolation=cv2.INTER_NEAREST))
        v = cast(Image, cv2.resize(v, full, interpolation=cv2.INTER_NEAREST))
    y, u, v = halved(picture.y, *size), halved(u, *size), halved(v, *size)
    if y.shape == u.shape:
        # One 3-channel resize of the merged planes gives the same pixels as three 1-channel ones
        # (each channel is resampled alone) in less time: 1080p to 224x224 in 1.13 ms, not 1.35.
        yuv = resize(cast(Image, cv2.merge([y, u, v])), size)
    else:
        yuv = cast(Image, cv2.merge([resize(y, size), resize(u, size), resize(v, size)]))
    return cast(Image, cv2.transform(yuv, picture.matrix, dst=dst))


def geometry(src_w: int, src_h: int, spec: InputSpec) -> tuple[Transform, tuple[int, int]]:
    """The source->input transform and the resized (width, height) before any padding.

    ``stretch`` fills the input; ``letterbox`` keeps the aspect ratio and centres the image
    (borders split evenly, the odd pixel right or bottom); ``pad`` keeps the aspect ratio and
    places the image top-left, the borders all right and bottom.
    """
    if spec.resize == "stretch":
        return Transform(spec.width / src_w, spec.height / src_h, 0.0, 0.0), (spec.width, spec.height)
    scale = min(spec.width / src_w, spec.height / src_h)
    new_w = max(1, min(spec.width, round(src_w * scale)))
    new_h = max(1, min(spec.height, round(src_h * scale)))
    if spec.resize == "pad":
        return Transform(scale, scale, 0.0, 0.0), (new_w, new_h)
    pad_x = (spec.width - new_w) // 2
    pad_y = (spec.height - new_h) // 2
    return Transform(scale, scale, float(pad_x), float(pad_y)), (new_w, new_h)


def to_source(boxes: npt.NDArray[np.float32], t: Transform, src_w: int, src_h: int) -> npt.NDArray[np.float32]:
    """Map ``[K, 4]`` xyxy boxes from model input pixels back to source pixels, clipped to the frame."""
    out = np.empty_like(boxes)
    out[:, 0] = (boxes[:, 0] - t.pad_x) / t.scale_x
    out[:, 2] = (boxes[:, 2] - t.pad_x) / t.scale_x
    out[:, 1] = (boxes[:, 1] - t.pad_y) / t.scale_y
    out[:, 3] = (boxes[:, 3] - t.pad_y) / t.scale_y
    np.clip(out[:, 0::2], 0, src_w, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, src_h, out=out[:, 1::2])
    return out


__all__ = ["LETTERBOX_FILL", "Preprocessor", "geometry", "resize", "resize_picture", "supersample", "to_source"]


class Preprocessor:
    """Prepares frames of one source size for one model input, reusing its scratch buffers."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self._canvas = np.full((spec.height, spec.width, 3), spec.fill, dtype=np.uint8)
        mean = np.asarray(spec.mean, dtype=np.float32)
        std = np.asarray(spec.std, dtype=np.float32)
        # x = (p / 255 - mean) / std = p * scale + shift, one fused multiply-add per pixel.
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._shift = (-mean / std).astype(np.float32)
        # Per-channel constants shaped for the layout, so one broadcast multiply-add fills ``out``.
        chw = spec.layout == "NCHW"
        self._scale_l = self._scale.reshape(3, 1, 1) if chw else self._scale
        self._shift_l = self._shift.reshape(3, 1, 1) if chw else self._shift
        # uint8 pixels in the model's layout and colour order (one byte each, cheap to rearrange).
        self._pixels = np.empty(spec.shape(1)[1:], dtype=np.uint8)
        self._geom: tuple[int, int, Transform, tuple[int, int]] | None = None

    def buffer(self) -> npt.NDArray[np.float32] | npt.NDArray[np.uint8]:
        """A new slot buffer of this model's per-frame input shape."""
        shape = self.spec.shape(1)[1:]
        if self.spec.dtype == "uint8":
            return np.empty(shape, dtype=np.uint8)
        return np.empty(shape, dtype=np.float32)

    def __call__(self, picture: Picture, out: npt.NDArray[np.float32] | npt.NDArray[np.uint8]) -> Transform:
        """Write the model input for ``picture`` (BGR uint8, or planes) into ``out``; return the geometry."""
        src_w, src_h = picture_size(picture)
        if self._geom is None or self._geom[:2] != (src_w, src_h):
            t, size = geometry(src_w, src_h, self.spec)
            self._geom = (src_w, src_h, t, size)
            self._canvas[:] = self.spec.fill
        _, _, transform, (new_w, new_h) = self._geom
        if self.spec.resize == "stretch":
            resize_picture(picture, (new_w, new_h), dst=self._canvas)
        else:
            px, py = int(transform.pad_x), int(transform.pad_y)
            self._canvas[py : py + new_h, px : px + new_w] = resize_picture(picture, (new_w, new_h))
        # Colour order and layout in one strided view of the uint8 canvas (no cvtColor, no float
        # transpose): rearranging bytes is a quarter of the memory traffic of rearranging floats.
        view = self._canvas[:, :, ::-1] if self.spec.color_order == "RGB" else self._canvas
        if self.spec.layout == "NCHW":
            view = view.transpose(2, 0, 1)
        if self.spec.dtype == "uint8":
            np.copyto(out, view)
        else:
            np.copyto(self._pixels, view)
            np.multiply(self._pixels, self._scale_l, out=out)
            np.add(out, self._shift_l, out=out)
        return transform

"""A decoded picture as the decoder left it: 4:2:0 planes, converted to BGR only where needed.

Converting a whole 1080p frame to BGR costs about as much as preparing it for a model, and most
frames are only ever prepared for a model: resizing the planes to the model's size first and
converting those few pixels gives the same input (within a grey level or two) for a fraction of
the work. The live view and the clips still get the whole frame in BGR, converted on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamer.records import Frame, FrameInfo, Image

Plane = npt.NDArray[np.uint8]  # one channel, rows possibly padded (a strided view of the decoder's buffer)
ColourMatrix = npt.NDArray[np.float32]  # 3 x 4 affine map: [B, G, R] = M @ [Y, U, V, 1]


@dataclass(frozen=True, eq=False)
class Yuv420:
    """A 4:2:0 picture: a full-size luma plane and two half-size chroma planes.

    ``matrix`` is the decoder's own YUV -> BGR conversion (its standard and range) as an affine
    map, so a picture converted small matches the decoder's conversion of the whole; ``convert``
    is that whole-frame conversion.
    """

    y: Plane
    u: Plane
    v: Plane
    matrix: ColourMatrix
    convert: Callable[[], Image]

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


Picture = Image | Yuv420  # what capture hands on: a BGR image, or planes still to convert


def picture_size(picture: Picture) -> tuple[int, int]:
    """(width, height) in pixels."""
    if isinstance(picture, Yuv420):
        return picture.width, picture.height
    return int(picture.shape[1]), int(picture.shape[0])


def frame_of(info: FrameInfo, picture: Picture) -> Frame:
    """The frame capture hands on: planes kept as they are, a BGR image as its image."""
    return Frame(info, yuv=picture) if isinstance(picture, Yuv420) else Frame(info, picture)

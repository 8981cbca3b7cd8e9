"""Where decoded frames go besides inference: the live view and the event clips' rings.

Capture asks :meth:`FrameTaps.wants` for every frame and hands the frame over only when one of
them does, so with nobody watching and no clip rule the tap costs a dict lookup per frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import cv2
import numpy as np

from streamer.capture_wire import SetTap
from streamer.preview import PreviewHub
from streamer.records import FrameInfo, Image

if TYPE_CHECKING:
    from streamer.clip_service import ClipService


class FrameTaps:
    def __init__(self, preview: PreviewHub | None, clips: ClipService | None) -> None:
        self.preview = preview
        self.clips = clips

    def __bool__(self) -> bool:
        return self.preview is not None or self.clips is not None

    def wants(self, stream: str) -> bool:
        if self.preview is not None and self.preview.wants(stream):
            return True
        return self.clips is not None and self.clips.recorder(stream) is not None

    def offer_jpeg(self, info: FrameInfo, jpeg: bytes) -> None:
        """A frame a capture process encoded for us (at clip size when a clip rule watches the stream)."""
        recorder = self.clips.recorder(info.stream) if self.clips is not None else None
        if recorder is not None:
            recorder.on_encoded(info, jpeg)
        if self.preview is not None and self.preview.wants(info.stream):
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None:
                self.preview.offer(info, cast(Image, image))

    def request(self, stream: str, clip_width: int, clip_quality: int) -> SetTap | None:
        """What a capture process should send of ``stream``'s frames now: every frame for a clip
        rule, the preview's rate while someone watches, else nothing."""
        if self.clips is not None and self.clips.recorder(stream) is not None:
            return SetTap(stream, 0.0, clip_width, clip_quality)
        if self.preview is not None and self.preview.watched(stream):
            settings = self.preview.settings
            return SetTap(stream, 1.0 / settings.fps, settings.max_width, settings.quality)
        return None

    def offer(self, info: FrameInfo, image: Image) -> None:
        """Called by the capture thread with a frame :meth:`wants` asked for; never raises out."""
        if self.preview is not None and self.preview.wants(info.stream):
            self.preview.offer(info, image)
        recorder = self.clips.recorder(info.stream) if self.clips is not None else None
        if recorder is not None:
            recorder.on_frame(info, image)

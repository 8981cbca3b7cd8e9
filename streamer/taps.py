"""Where decoded frames go besides inference: the live view and the event clips' rings.

Capture asks :meth:`FrameTaps.wants` for every frame and hands the frame over only when one of
them does, so with nobody watching and no clip rule the tap costs a dict lookup per frame.
"""

from __future__ import annotations

from streamer.clip_service import ClipService
from streamer.preview import PreviewHub
from streamer.records import FrameInfo, Image


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

    def offer(self, info: FrameInfo, image: Image) -> None:
        """Called by the capture thread with a frame :meth:`wants` asked for; never raises out."""
        if self.preview is not None and self.preview.wants(info.stream):
            self.preview.offer(info, image)
        recorder = self.clips.recorder(info.stream) if self.clips is not None else None
        if recorder is not None:
            recorder.on_frame(info, image)

"""A clip recorder on a fresh directory with its real writer thread, fed scripted frames and results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.clip_events import ClipDone, ClipEvent
from streamer.clip_store import ClipStore
from streamer.clip_writer import ClipWriter, Draw
from streamer.clips import ClipRecorder
from streamer.codec import result_dict
from streamer.events_config import EventsConfig
from streamer.records import Detection, Image, ModelOutput, Result
from streamer.rules import RuleSet
from tests.support.clipframes import image, info

FPS = 25.0


class Rig:
    """A recorder on a fresh clip directory, its writer thread, and the events they told."""

    def __init__(self, root: Path, draw: Draw | None = None, queue_bytes: int = 64 * 2**20, **events: Any):
        settings = {"width": 320, "pre_s": 2.0, "post_s": 1.02, "max_s": 60, **events}
        rules = settings.pop("rules", [{"name": "person", "label": "person", "min_frames": 1}])
        self.events = EventsConfig.model_validate({**settings, "rules": rules})
        self.told: list[ClipEvent] = []
        self.picture: Callable[[int], Image] = image
        self.store = ClipStore(root, int(self.events.max_bytes))
        self.writer = ClipWriter(self.store, self.told.append, draw=draw, queue_bytes=queue_bytes)
        self.recorder = ClipRecorder(
            "cam",
            self.events,
            RuleSet(self.events.rules),
            store=self.store,
            writer=self.writer,
            on_event=self.told.append,
        )

    def feed(self, frames: range, person: set[int], processed: set[int] | None = None) -> None:
        """Frames in order; each processed one (all by default) gets a result, with a person if in ``person``."""
        for i in frames:
            self.recorder.on_frame(info(i, FPS), self.picture(i))
            if processed is None or i in processed:
                dets = (Detection("person", 0.9, (10, 10, 50, 90)),) if i in person else ()
                result = Result(info(i, FPS), (ModelOutput("det", "detector", detections=dets),))
                self.recorder.on_result(result, result_dict(result, 0.01))

    def done(self) -> list[ClipDone]:
        self.writer.stop()
        return [e for e in self.told if isinstance(e, ClipDone)]

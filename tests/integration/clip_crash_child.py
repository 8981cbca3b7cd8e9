"""A process recording one endless clip until it is killed: ``python -m tests.integration.clip_crash_child DIR``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from streamer.clip_store import ClipStore
from streamer.clip_writer import ClipWriter
from streamer.clips import ClipRecorder
from streamer.codec import result_dict
from streamer.events_config import EventsConfig
from streamer.records import Detection, ModelOutput, Result
from streamer.rules import RuleSet
from tests.support.clipframes import info, noisy


def main() -> None:
    root = Path(sys.argv[1])
    events = EventsConfig.model_validate(
        {"width": 320, "pre_s": 1, "max_s": 3600, "rules": [{"name": "r", "label": "person", "min_frames": 1}]}
    )
    store = ClipStore(root, int(events.max_bytes))
    writer = ClipWriter(store, lambda e: print(type(e).__name__, flush=True))
    writer.start()
    recorder = ClipRecorder("cam", events, RuleSet(events.rules), store=store, writer=writer, on_event=lambda e: None)
    det = (Detection("person", 0.9, (0, 0, 9, 9)),)
    i = 0
    while True:  # until killed
        recorder.on_frame(info(i), noisy(i))
        result = Result(info(i), (ModelOutput("det", "detector", detections=det),))
        recorder.on_result(result, result_dict(result, 0.0))
        i += 1
        time.sleep(0.004)


if __name__ == "__main__":
    main()

"""Event clips for the whole daemon: one writer thread, one recorder per stream that has rules.

The pipeline holds one of these, or none: with no rule in ``[events]`` there is no writer, no ring,
no JPEG encoding, nothing on the frame path. Streams come and go (SIGHUP) through ``add`` and
``remove``; ``tick`` from any periodic loop ends the clips of streams that went quiet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from streamer.clip_events import OnClipEvent
from streamer.clip_store import ClipStore
from streamer.clip_writer import ClipCounts, ClipWriter, Draw
from streamer.clips import ClipRecorder
from streamer.events_config import EventsConfig
from streamer.rules import RuleSet, rules_for
from streamer.zones import Zone


class ClipService:
    def __init__(
        self,
        events: EventsConfig,
        root: Path,
        on_event: OnClipEvent,
        draw: Draw | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.events = events
        self.on_event = on_event
        self.clock = clock
        self.store = ClipStore(root, int(events.max_bytes))
        self.writer = ClipWriter(self.store, on_event, crf=events.crf, draw=draw if events.annotate else None)
        self._recorders: dict[str, ClipRecorder] = {}
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls, events: EventsConfig, root: Path, on_event: OnClipEvent, draw: Draw | None = None
    ) -> ClipService | None:
        """A started service, or None when no rule is configured (then clips cost nothing)."""
        if not events.rules:
            return None
        service = cls(events, root, on_event, draw)
        service.writer.start()
        return service

    def add(self, stream: str, zones: Sequence[Zone] = ()) -> ClipRecorder | None:
        """The stream's recorder, or None when no rule watches it (then its frames need no tap)."""
        rules = rules_for(self.events.rules, stream)
        if not rules:
            return None
        recorder = ClipRecorder(
            stream, self.events, RuleSet(rules, zones), store=self.store, writer=self.writer, on_event=self.on_event
        )
        with self._lock:
            old = self._recorders.pop(stream, None)
            self._recorders[stream] = recorder
        if old is not None:
            old.close()
        return recorder

    def recorder(self, stream: str) -> ClipRecorder | None:
        with self._lock:
            return self._recorders.get(stream)

    def remove(self, stream: str) -> None:
        with self._lock:
            recorder = self._recorders.pop(stream, None)
        if recorder is not None:
            recorder.close()

    def tick(self) -> None:
        now = self.clock()
        with self._lock:
            recorders = list(self._recorders.values())
        for recorder in recorders:
            recorder.tick(now)

    def counts(self) -> ClipCounts:
        return self.writer.counts()

    def stop(self, timeout: float = 10.0) -> bool:
        """End every clip with what it has, then the writer; False if the writer did not finish in time."""
        with self._lock:
            recorders = list(self._recorders.values())
            self._recorders.clear()
        for recorder in recorders:
            recorder.close()
        return self.writer.stop(timeout)

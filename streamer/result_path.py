"""After inference: each result through the zones stage, to the live view, the clip recorders, the publisher.

Also the other end of the frame taps: what the live view and the clip rings take of the decoded
frames, in this process (:class:`~streamer.taps.FrameTaps` in the capture hand-off) or from a
capture process (JPEGs it encodes once a tap is requested, :meth:`ResultPath.request_taps`).
Nothing here runs for a stream without zones, a viewer or a clip rule.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from streamer.annotate import draw_message
from streamer.capture_remote import RemoteStream
from streamer.capture_wire import SetTap
from streamer.clip_events import ClipDone, ClipEvent, ClipFailed
from streamer.clip_events import event_dict as clip_event_dict
from streamer.codec import result_dict
from streamer.config import Config, StreamConfig
from streamer.metrics import Metrics
from streamer.preview import preview_hub
from streamer.publish import Publisher
from streamer.records import EventMessage, FrameInfo, Result, StreamState
from streamer.taps import FrameTaps
from streamer.zone_stage import ZoneStage, event_messages
from streamer.zones import Update

if TYPE_CHECKING:
    from streamer.clip_service import ClipService

logger = logging.getLogger(__name__)


class ResultPath:
    def __init__(self, config: Config, metrics: Metrics, publisher: Publisher) -> None:
        self.config = config
        self.metrics = metrics
        self.publisher = publisher
        self.zones = ZoneStage()
        self.preview = preview_hub(config.preview)
        self.clips: ClipService | None = None
        if config.events.rules:  # PyAV (clip encoding) loads only when a clip rule exists
            from streamer.clip_service import ClipService

            root = config.resolve(config.events.dir)
            self.clips = ClipService.create(config.events, root, self._clip_event, draw_message)
        self.taps = FrameTaps(self.preview, self.clips)

    # -- streams -----------------------------------------------------------------------------
    def add_stream(self, cfg: StreamConfig) -> None:
        self.zones.add(cfg)
        if self.preview is not None:
            self.preview.add(cfg.name, cfg.zones, cfg.lines)
        if self.clips is not None:
            self.clips.add(cfg.name)

    def remove_stream(self, name: str) -> None:
        self.zones.remove(name)
        if self.preview is not None:
            self.preview.remove(name)
        if self.clips is not None:
            self.clips.remove(name)

    def state(self, stream: str, state: StreamState) -> None:
        if self.preview is not None:
            self.preview.set_state(stream, state.value)

    def stop(self, timeout: float) -> None:
        """Clips end with what they have."""
        if self.clips is not None:
            self.clips.stop(timeout=timeout)

    # -- results -----------------------------------------------------------------------------
    def __call__(self, result: Result) -> None:
        """Called by the inference thread with every result, in order per stream."""
        result, report = self.zones(result)
        if report is not None:
            self.metrics.zones.report(report)
            for message in event_messages(report):
                if not self.publisher.event(message):
                    logger.debug("event lost, publish queue full: %s", message.body)
        if self.preview is not None:
            self.preview.result(result)
        recorder = self.clips.recorder(result.info.stream) if self.clips is not None else None
        if recorder is not None:
            latency = time.monotonic() - result.info.t_capture_mono
            update = Update(line_events=report.line_events) if report is not None else None
            recorder.on_result(result, result_dict(result, latency), update)
        self.publisher.submit(result)

    def _clip_event(self, event: ClipEvent) -> None:
        """From the clip recorders and writer threads: to the _events topic and the metrics."""
        if isinstance(event, ClipFailed):
            self.metrics.clip_errors.labels(event.reason.value).inc()
        elif isinstance(event, ClipDone):
            self.metrics.clips.inc()
        if not self.publisher.event(EventMessage(clip_event_dict(event))):
            logger.debug("clip event lost, publish queue full: %s", event)

    # -- frames from capture processes -------------------------------------------------------
    def tap_for(self, stream: str) -> SetTap | None:
        """What a capture process should send of ``stream``'s frames now."""
        events = self.config.events
        return self.taps.request(stream, events.width, events.jpeg_quality) if self.taps else None

    def request_taps(self, workers: list[RemoteStream]) -> None:
        for worker in workers:
            worker.set_tap(self.tap_for(worker.name))

    def tapped(self, info: FrameInfo, jpeg: bytes) -> None:
        self.taps.offer_jpeg(info, jpeg)

    def tick(self) -> None:
        if self.clips is not None:
            self.clips.tick()

"""What the clip recorder tells the rest of the daemon: events for the ``_events`` topic, error reasons."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class ClipEventKind(StrEnum):
    """The ``event`` of a clip message on the ``_events`` topic."""

    CLIP_STARTED = "clip_started"
    CLIP_DONE = "clip_done"
    CLIP_FAILED = "clip_failed"


class ClipError(StrEnum):
    """Why a clip was lost or cut short: the ``reason`` label of a ``clip_errors`` counter."""

    NO_SPACE = "no_space"  # the disk (or a quota, or a file size limit) is full
    READ_ONLY = "read_only"  # the file system is mounted read-only
    DENIED = "denied"  # no permission to write the directory
    NO_DIR = "no_dir"  # the directory cannot be made (a file is in the way, a parent is missing)
    IO = "io"  # any other failed file operation
    ENCODE = "encode"  # the encoder or muxer failed
    BEHIND = "behind"  # the writer fell behind its queue: the clip was cut short (lost if it had no frame yet)
    NO_FRAMES = "no_frames"  # its stream went away before the clip had a single frame


@dataclass(frozen=True)
class ClipStarted:
    kind: ClassVar[ClipEventKind] = ClipEventKind.CLIP_STARTED
    stream: str
    rule: str
    path: str  # where the clip will be once it is done
    t_capture: float  # UNIX time of the frame the rule fired on


@dataclass(frozen=True)
class ClipDone:
    kind: ClassVar[ClipEventKind] = ClipEventKind.CLIP_DONE
    stream: str
    rule: str
    path: str
    seconds: float  # from its first frame's capture time to its last's, plus one frame
    frames: int
    bytes: int  # the MP4 and its sidecar
    cut_short: bool = False  # the writer fell behind and the clip ended early


@dataclass(frozen=True)
class ClipFailed:
    kind: ClassVar[ClipEventKind] = ClipEventKind.CLIP_FAILED
    stream: str
    rule: str
    path: str
    reason: ClipError
    detail: str = ""


ClipEvent = ClipStarted | ClipDone | ClipFailed
OnClipEvent = Callable[[ClipEvent], None]


def event_dict(event: ClipEvent) -> dict[str, Any]:
    """An event as the JSON body of an ``_events`` message."""
    return {"event": event.kind.value, **dataclasses.asdict(event)}

"""The clip directory: names, temporaries, the disk budget, and how file errors are told apart.

Layout: ``DIR/<stream>/<UTC time>-<rule>.mp4`` and its sidecar ``.json``. Both are written under a
temporary name (``.<name>.part``) in the same directory and renamed when complete, so a clip under
its final name is always whole; temporaries left by a crash are removed at start. One daemon per
directory: another's temporaries would look stale.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from streamer.clip_events import ClipError

logger = logging.getLogger(__name__)

PART = ".part"
# Only files named as this module names them are ever counted or deleted: a dir pointed at a folder
# that holds other videos loses none of them.
CLIP_NAME = re.compile(r"^\d{8}T\d{6}\.\d{3}Z-[A-Za-z0-9][A-Za-z0-9_.-]*\.(mp4|json)$")


@dataclass(frozen=True)
class ClipPaths:
    """Where one clip goes: its final names and the temporaries it is written under."""

    mp4: Path
    sidecar: Path

    @property
    def mp4_part(self) -> Path:
        return self.mp4.with_name(f".{self.mp4.name}{PART}")

    @property
    def sidecar_part(self) -> Path:
        return self.sidecar.with_name(f".{self.sidecar.name}{PART}")


def reason_of(exc: BaseException) -> ClipError:
    """The clip error an exception stands for."""
    if not isinstance(exc, OSError):
        return ClipError.ENCODE
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ClipError.NO_SPACE
    if code == errno.EROFS:
        return ClipError.READ_ONLY
    if code in (errno.EACCES, errno.EPERM):
        return ClipError.DENIED
    if code in (errno.ENOENT, errno.ENOTDIR, errno.EEXIST):
        return ClipError.NO_DIR
    return ClipError.IO if code is not None else ClipError.ENCODE


class ClipStore:
    """The clip directory, used by the writer thread only."""

    def __init__(self, root: Path, max_bytes: int):
        self.root = root
        self.max_bytes = max_bytes
        self.deleted = 0  # clips deleted to keep within the budget

    def paths(self, stream: str, rule: str, t_wall: float) -> ClipPaths:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t_wall)) + f".{int(t_wall % 1 * 1000):03d}Z"
        folder = self.root / stream
        return ClipPaths(folder / f"{stamp}-{rule}.mp4", folder / f"{stamp}-{rule}.json")

    def remove_stale(self) -> int:
        """Delete the temporaries a crash left behind; how many. Errors are left to the first clip."""
        removed = 0
        for path in self._walk():
            if path.name.startswith(".") and path.name.endswith(PART) and CLIP_NAME.match(path.name[1 : -len(PART)]):
                try:
                    path.unlink()
                    removed += 1
                except OSError as exc:
                    logger.warning("clips: cannot remove stale %s: %s", path, exc.strerror)
        if removed:
            logger.info("clips: removed %d temporaries left by an earlier run in %s", removed, self.root)
        return removed

    def usage(self) -> list[tuple[float, int, Path]]:
        """Every finished clip as (modification time, bytes of MP4 and sidecar, MP4 path), oldest first."""
        clips: dict[Path, tuple[float, int]] = {}
        for path in self._walk():
            if CLIP_NAME.match(path.name):
                try:
                    st = path.stat()
                except OSError:
                    continue  # deleted meanwhile
                key = path.with_suffix(".mp4")
                mtime, size = clips.get(key, (0.0, 0))
                clips[key] = (max(mtime, st.st_mtime), size + st.st_size)
        return sorted((mtime, size, path) for path, (mtime, size) in clips.items())

    def enforce_budget(self, keep: ClipPaths | None = None) -> int:
        """Delete the oldest clips (MP4 and sidecar together) until the directory fits; bytes freed.

        The clip just written (``keep``) stays even when it alone is over the budget.
        """
        clips = self.usage()
        total = sum(size for _, size, _ in clips)
        freed = 0
        for _, size, mp4 in clips:
            if total - freed <= self.max_bytes:
                break
            if keep is not None and mp4 == keep.mp4:
                continue
            try:
                for path in (mp4.with_suffix(".json"), mp4):  # the video last: no video, no clip
                    path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("clips: cannot delete %s to keep within max_bytes: %s", mp4, exc.strerror)
                break
            freed += size
            self.deleted += 1
        return freed

    def _walk(self) -> list[Path]:
        out: list[Path] = []
        try:
            streams = [e for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return out
        for entry in streams:
            try:
                out.extend(Path(f.path) for f in os.scandir(entry.path) if f.is_file(follow_symlinks=False))
            except OSError:
                continue
        return out


class Episodes:
    """Logs a failing disk once per episode (until a clip is written again), not once per clip."""

    def __init__(self) -> None:
        self._failing: ClipError | None = None

    def failed(self, reason: ClipError, what: str) -> None:
        if reason in (ClipError.BEHIND, ClipError.NO_FRAMES, ClipError.ENCODE):
            logger.warning("clips: %s (%s)", what, reason)  # not the disk's fault, and rare: each one is news
            return
        if self._failing is not reason:
            logger.error("clips: %s (%s); clips are lost until this is fixed, the streams go on", what, reason)
        self._failing = reason

    def succeeded(self) -> None:
        if self._failing is not None:
            logger.info("clips: writing again after %s", self._failing)
        self._failing = None

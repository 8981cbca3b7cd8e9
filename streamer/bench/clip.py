"""Reference clips for ``streamer bench --make-clip``: camera-like H.264 made by ffmpeg, cached.

Anyone can regenerate the clip a bench figure was measured on: ``testsrc2`` (every frame differs)
with temporal noise (so the encoder cannot coast on static areas), 25 fps, a keyframe every two
seconds and no B-frames, as a camera sends, at 6 Mbit/s.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from streamer.errors import ConfigError, StreamerError

logger = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
PRESETS: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
RATE = 25
SECONDS = 8.0
ENCODE_TIMEOUT_S = 900.0  # 4k on two cores takes minutes; a hung ffmpeg must not hang the bench


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/streamer``, or ``~/.cache/streamer`` (a relative XDG path is ignored, per the spec)."""
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "streamer"


def ffmpeg_command(out: Path, size: tuple[int, int], seconds: float = SECONDS) -> list[str]:
    """The ffmpeg command line that encodes the reference clip at ``size`` into ``out``."""
    width, height = size
    return [
        FFMPEG, "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={RATE}",
        "-t", f"{seconds:g}",
        "-vf", "noise=alls=6:allf=t",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "6M",
        "-g", str(2 * RATE), "-bf", "0", "-pix_fmt", "yuv420p",
        str(out),
    ]  # fmt: skip


def make_clip(out: Path, size: tuple[int, int], seconds: float = SECONDS) -> Path:
    """Encode the reference clip into ``out``; written under a temporary name first, so a run killed
    half-way leaves no truncated clip behind to be reused."""
    if shutil.which(FFMPEG) is None:
        raise ConfigError("bench: --make-clip needs ffmpeg on PATH (Debian: apt install ffmpeg)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"bench: cannot create the clip cache {out.parent}: {exc.strerror}") from None
    part = out.with_name(f".{out.stem}.{os.getpid()}.part{out.suffix}")
    try:
        done = subprocess.run(
            ffmpeg_command(part, size, seconds), check=False, capture_output=True, text=True, timeout=ENCODE_TIMEOUT_S
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise StreamerError(f"bench: ffmpeg failed to encode {out.name} (exit {done.returncode}): {last}")
        os.replace(part, out)
    except subprocess.TimeoutExpired:
        raise StreamerError(f"bench: ffmpeg took over {ENCODE_TIMEOUT_S:g} s to encode {out.name}") from None
    finally:
        part.unlink(missing_ok=True)
    return out


def preset_size(preset: str) -> tuple[int, int]:
    """Width and height of ``preset``; ConfigError naming the presets if there is no such one."""
    size = PRESETS.get(preset)
    if size is None:
        raise ConfigError(f"bench: --make-clip: expected one of {', '.join(PRESETS)}, got {preset!r}")
    return size


def preset_clip(preset: str, cache: Path | None = None) -> Path:
    """The reference clip of ``preset`` (``720p``, ``1080p``, ``4k``), encoded on first use and then reused."""
    size = preset_size(preset)
    out = (cache or cache_dir()) / f"bench-{preset}-testsrc2-{RATE}fps-{SECONDS:g}s.mp4"
    if out.is_file():
        logger.info("bench: reusing %s", out)
        return out
    logger.info("bench: encoding %s with ffmpeg (once; later runs reuse it)", out)
    return make_clip(out, size)

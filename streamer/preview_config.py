"""``[preview]``: the live view in the browser, served on the metrics HTTP listener."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PreviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Off unless enabled: the view shows camera pictures to whoever reaches the listener.
    enabled: bool = False
    max_width: int = Field(default=640, ge=64, le=3840)  # the picture is downscaled to this width
    fps: float = Field(default=5.0, gt=0, le=30)  # pictures per second per stream, at most
    quality: int = Field(default=75, ge=10, le=100)  # JPEG quality
    max_viewers: int = Field(default=16, ge=1, le=1000)  # concurrent MJPEG viewers; more get 503
    # A token a viewer must give as ?token=, read from a file or a systemd credential.
    token_file: str | None = None
    token_credential: str | None = None

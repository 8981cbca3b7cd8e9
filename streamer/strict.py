"""The strictness every configuration table shares: unknown keys rejected, values frozen, and
non-finite numbers refused (TOML has nan and inf; neither is ever a sane timeout, rate or threshold)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)

"""Request bodies of the flow API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClockAdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(gt=0, le=7 * 24 * 60, examples=[30])

"""Request bodies of the escalation API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.fields import Text


class DeclareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: int = Field(ge=1, le=4, examples=[3])
    reason: Text = Field(
        min_length=3,
        max_length=2000,
        examples=["Two wards closed with norovirus; computed level understates pressure"],
    )

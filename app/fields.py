"""Field types shared by request bodies: codes, and free text PostgreSQL can store (no NUL
byte, no lone surrogate — either would otherwise fail at the database as a 500)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from error
    return value


# A moment as the API writes it (ISO 8601 with its UTC offset), typed in the schema.
Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, examples=["2026-11-30T09:00:00+00:00"])
]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$", examples=["RAN01"])]
Text = Annotated[str, AfterValidator(_storable)]

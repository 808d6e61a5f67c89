"""Cursor pagination: the query parameters every list endpoint shares (ids are BIGINT)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_ID = 2**63 - 1

AfterId = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Cursor: the last id seen (0: from the start)")
]
BeforeId = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Cursor: the last id of the previous page (newest first)"),
]
PageSize = Annotated[int, Query(ge=1, le=500, description="At most this many items")]

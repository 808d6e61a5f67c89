"""``GET /api/v1/feeds``: the feed conformance report (integration engineers, go-live)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import CurrentUser
from app.auth.schemas import Role
from app.deps import RuntimeDep, SessionDep
from app.errors import Forbidden
from app.feeds.schemas import FeedReport
from app.feeds.service import feed_report

router = APIRouter(prefix="/api/v1", tags=["feeds"])
READERS = (Role.ADMIN, Role.COMMANDER, Role.INTEGRATION_READ, Role.INTEGRATION_INGEST)


@router.get(
    "/feeds",
    summary="Feed conformance: per sender, messages by trigger, version and processing id, "
    "dead letters, unmapped locations, imputed times, out-of-order and duplicates",
    responses={403: {"description": "Not an integration or administrator role"}},
)
async def feeds(
    session: SessionDep,
    user: CurrentUser,
    flow: RuntimeDep,
    since: Annotated[datetime | None, Query(description="Default: the last 7 days")] = None,
) -> FeedReport:
    if user.role not in READERS:
        raise Forbidden(f"role {user.role} may not read the feed report")
    return await feed_report(session, since or flow.clock.now() - timedelta(days=7))

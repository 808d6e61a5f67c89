"""Webhooks on escalation changes: register, list, remove, and read the delivery log
(administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.audit.repository import AuditRepository
from app.auth.deps import CurrentUser
from app.auth.schemas import Principal, Role
from app.deps import SessionDep, SettingsDep
from app.errors import Forbidden, InvalidPayload, NotFound
from app.pagination import MAX_ID, BeforeId, PageSize
from app.webhooks.models import Webhook
from app.webhooks.policy import UrlRefused, check_url
from app.webhooks.repository import WebhookRepository
from app.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from app.webhooks.service import new_webhook

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]


def _admin(user: Principal) -> None:
    if user.role != Role.ADMIN:
        raise Forbidden("only an administrator may manage webhooks")


def _out(row: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(row, from_attributes=True)


async def _get(repo: WebhookRepository, webhook_id: int) -> Webhook:
    row = await repo.get(webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return row


@router.post(
    "",
    status_code=201,
    summary="Register a webhook for OPEL changes (signed with HMAC-SHA256; secret shown once)",
)
async def create_webhook(
    body: WebhookIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> WebhookCreated:
    _admin(user)
    try:
        await check_url(str(body.url), settings.webhook_allow)
    except UrlRefused as refused:
        raise InvalidPayload(f"url: {refused}") from refused
    row = new_webhook(str(body.url), list(body.events), body.scopes, user.subject)
    repo = WebhookRepository(session)
    repo.add(row)
    await session.flush()
    await session.refresh(row)
    AuditRepository(session).record(user, "webhook.create", f"webhook:{row.id}", url=row.url)
    return WebhookCreated(**_out(row).model_dump(), secret=row.secret)


@router.get("", summary="Registered webhooks (never their secrets)")
async def list_webhooks(user: CurrentUser, session: SessionDep) -> list[WebhookOut]:
    _admin(user)
    return [_out(row) for row in await WebhookRepository(session).listing()]


@router.delete("/{webhook_id}", status_code=204, summary="Remove a webhook and its log")
async def delete_webhook(webhook_id: WebhookId, user: CurrentUser, session: SessionDep) -> None:
    _admin(user)
    row = await _get(WebhookRepository(session), webhook_id)
    await session.delete(row)
    AuditRepository(session).record(user, "webhook.delete", f"webhook:{webhook_id}")


@router.get("/{webhook_id}/deliveries", summary="The delivery log, newest first")
async def deliveries(
    webhook_id: WebhookId,
    user: CurrentUser,
    session: SessionDep,
    before_id: BeforeId = None,
    limit: PageSize = 100,
) -> DeliveryPage:
    _admin(user)
    repo = WebhookRepository(session)
    await _get(repo, webhook_id)
    rows = await repo.deliveries(webhook_id, before_id=before_id, limit=limit)
    return DeliveryPage(
        items=[DeliveryOut.model_validate(row, from_attributes=True) for row in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )

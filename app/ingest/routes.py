"""``POST /api/v1/ingest/{kind}`` for sources that cannot write to Kafka (it validates, then
produces to the same topic — never bypassing Kafka) and ``GET /api/v1/dead-letters``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from app import topics
from app.audit.repository import AuditRepository
from app.auth.deps import CurrentUser
from app.auth.schemas import Principal, Role
from app.deps import KafkaDep, SessionDep, SettingsDep
from app.errors import Forbidden, InvalidPayload, NotFound, Responses
from app.ingest.repository import IngestRepository
from app.ingest.schemas import (
    DeadLetterPage,
    DeadLetterRead,
    DeadLetterWhole,
    IngestAccepted,
    IngestKind,
)
from app.ingest.scope import out_of_scope
from app.pagination import MAX_ID, AfterId, PageSize

router = APIRouter(prefix="/api/v1", tags=["ingest"])
TOPICS: dict[str, str] = {
    "hl7v2": topics.ADT_HL7V2,
    "fhir": topics.ADT_FHIR,
    "ambulance": topics.AMBULANCE,
    "carehome": topics.CAREHOME_BEDS,
    "discharge": topics.DISCHARGE_STATUS,
}
ERRORS: Responses = {
    401: {"description": "Not authenticated"},
    403: {"description": "Role may not ingest"},
    413: {"description": "The body is over the ingest limit (FLOWCC_INGEST_MAX_BYTES)"},
    422: {"description": "The payload does not decode; the message says exactly why"},
    503: {"description": "Kafka unavailable"},
}


def _require(user: Principal, *roles: Role) -> None:
    if user.role not in roles:
        raise Forbidden(f"role {user.role} may not do this")


def _decode(kind: str, raw: bytes) -> list[Any]:
    """Decode exactly as the consumer will."""
    from app.ingest.decoders.errors import DecodeError
    from app.ingest.routing import decode_for_kind

    try:
        return decode_for_kind(kind, raw)
    except DecodeError as error:
        raise InvalidPayload(f"{error.kind}: {error.message}") from error


def _partition_key(event: object) -> bytes | None:
    """The same key a source would use (PRODUCT.md §3): spell, incident, home or spell id."""
    for name in ("encounter_key", "incident_id", "home_code", "spell_id"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value.encode()
    return None


@router.post(
    "/ingest/{kind}",
    status_code=202,
    responses=ERRORS,
    summary="Validate one message and produce it to the kind's Kafka topic",
)
async def ingest(
    kind: IngestKind,
    request: Request,
    user: CurrentUser,
    kafka: KafkaDep,
    settings: SettingsDep,
    session: SessionDep,
) -> IngestAccepted:
    _require(user, Role.INTEGRATION_INGEST, Role.ADMIN)
    raw = await request.body()  # at most settings.ingest_max_bytes (app/limits.py)
    if not raw:
        raise InvalidPayload("empty body")
    # Decoding a 4 MB batch is CPU work: off the event loop, so boards and requests go on.
    events = await asyncio.to_thread(_decode, kind, raw)
    from app.ingest.routing import unknown_reference

    if problem := await unknown_reference(session, kind, events):
        raise InvalidPayload(f"invalid_value: {problem}")
    if refusal := await out_of_scope(session, user, kind, events):
        raise Forbidden(refusal)
    key = _partition_key(events[0]) if events else None
    produced = await kafka.produce(settings.kafka.topic(TOPICS[kind]), raw, key=key)
    return IngestAccepted(
        topic=produced.topic,
        partition=produced.partition,
        offset=produced.offset,
        events=len(events),
    )


@router.get("/dead-letters", responses=ERRORS, summary="Messages that could not be applied")
async def dead_letters(
    session: SessionDep,
    user: CurrentUser,
    after: AfterId = 0,
    limit: PageSize = 100,
) -> DeadLetterPage:
    _require(user, Role.ADMIN, Role.COMMANDER, Role.INTEGRATION_READ)
    if user.scoped:
        raise Forbidden(
            "dead letters are not scoped by site: an unscoped key or a person reads them"
        )
    letters = await IngestRepository(session).dead_letters(after_id=after, limit=limit)
    items = [DeadLetterRead.of(letter) for letter in letters]
    return DeadLetterPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get(
    "/dead-letters/{letter_id}",
    responses=ERRORS | {404: {"description": "No such dead letter"}},
    summary="One dead letter with the message exactly as received (admin; audited)",
)
async def dead_letter(
    letter_id: Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])],
    session: SessionDep,
    user: CurrentUser,
) -> DeadLetterWhole:
    _require(user, Role.ADMIN)  # the message holds patients' identifiers
    letter = await IngestRepository(session).dead_letter(letter_id)
    if letter is None:
        raise NotFound(f"no dead letter {letter_id}")
    AuditRepository(session).record(user, "dead_letter.read", f"dead-letter:{letter_id}")
    return DeadLetterWhole.of(letter)

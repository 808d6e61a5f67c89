"""People waiting to leave hospital: the list (no identifiers), an audited identity lookup for
the roles that need it, and hub status updates (sent through Kafka like every other event)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.audit.repository import AuditRepository
from app.auth.deps import CurrentUser
from app.auth.schemas import Principal, Role
from app.deps import KafkaDep, Runtime, RuntimeDep, SessionDep, SettingsDep
from app.discharge.events import DischargeStatusEvent
from app.discharge.repository import DischargeRepository, Pending
from app.discharge.schemas import (
    IdentityOut,
    PendingItem,
    PendingList,
    ProducedOut,
    StatusUpdateIn,
)
from app.discharge.service import discharges_view, spell_ref
from app.errors import Forbidden, NotFound, Responses
from app.topics import DISCHARGE_STATUS
from app.topology.repository import TopologyRepository

router = APIRouter(prefix="/api/v1/discharges", tags=["discharges"])
NOT_VISIBLE: Responses = {
    404: {"description": "No such person waiting, or not visible to this role"}
}


def _may_list(user: Principal, la: str) -> bool:
    """A site manager lists its own sites' people of every authority (filtered below)."""
    return user.may_see_authority(la) or user.role == Role.SITE_MANAGER


@router.get(
    "",
    summary="People ready to leave hospital, per local authority (no identifiers)",
    response_model=PendingList,
)
async def pending(
    session: SessionDep,
    user: CurrentUser,
    flow: RuntimeDep,
    local_authority: Annotated[str | None, Query(examples=["E06000901"])] = None,
    pathway: Annotated[str | None, Query(pattern="^P[0-3]$")] = None,
    min_days: Annotated[int, Query(ge=0, description="At least this many days since ready")] = 0,
) -> PendingList:
    if user.role == Role.INTEGRATION_INGEST:
        raise Forbidden("an ingest integration may not read discharges")
    las = [la.code for la in await TopologyRepository(session).local_authorities()]
    wanted = [la for la in las if la == local_authority or local_authority is None]
    if local_authority is not None and not wanted:
        raise NotFound(f"no local authority {local_authority}")
    items = []
    for la in wanted:
        if not _may_list(user, la):
            continue
        data, _ = await discharges_view(session, la, now=flow.clock.now(), ref_key=flow.ref_key)
        for person in data.pending:
            if user.site_limited and person.site not in user.sites:
                continue
            if pathway in (None, person.pathway) and person.days_since_ready >= min_days:
                items.append(PendingItem(local_authority=la, **person.model_dump()))
    return PendingList(as_of=flow.clock.now().isoformat(), items=items)


async def _find(session: SessionDep, flow: Runtime, ref: str) -> Pending:
    las = [la.code for la in await TopologyRepository(session).local_authorities()]
    for person in await DischargeRepository(session).pending(las, now=flow.clock.now()):
        if spell_ref(person.spell_id, flow.ref_key) == ref:
            return person
    raise NotFound(f"nobody waiting with reference {ref}")


@router.get(
    "/{ref}/identity",
    summary="Who this is (NHS number, local id): audited; social care for its own residents, "
    "site managers for their sites",
    responses={**NOT_VISIBLE, 403: {"description": "This role does not need identifiers"}},
    response_model=IdentityOut,
)
async def identity(
    ref: str, session: SessionDep, user: CurrentUser, flow: RuntimeDep
) -> IdentityOut:
    person = await _find(session, flow, ref)
    if not user.may_identify(person.site, person.local_authority):
        raise Forbidden("identifiers are shown only to this person's social care team or site")
    nhs_number, patient_id, _ = await DischargeRepository(session).identity(person.spell_id)
    AuditRepository(session).record(
        user, "read_identity", f"discharge:{ref}", site=person.site, la=person.local_authority
    )
    return IdentityOut(
        ref=ref, nhs_number=nhs_number, patient_id=patient_id, site=person.site, ward=person.ward
    )


@router.post(
    "/{ref}/status",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record the hub's progress (assessment booked, placement found, ...) via Kafka",
    responses=NOT_VISIBLE,
    response_model=ProducedOut,
)
async def update_status(
    ref: str,
    body: StatusUpdateIn,
    session: SessionDep,
    user: CurrentUser,
    flow: RuntimeDep,
    kafka: KafkaDep,
    settings: SettingsDep,
) -> ProducedOut:
    person = await _find(session, flow, ref)
    if not user.may_update_discharge(person.local_authority):
        raise Forbidden("only this person's social care team (or a commander) may update it")
    # Only what the hub changed, and who: every other field keeps its value (an update never
    # wipes what it does not mention).
    stated = {"delay_reason": body.delay_reason} if body.delay_reason else {}
    event = DischargeStatusEvent.model_validate(
        {
            "event_id": f"api-{uuid.uuid4()}",
            "spell_id": person.spell_id,
            "status": body.status,
            "updated_by": user.subject,
            "occurred_at": flow.clock.now(),
        }
        | stated
    )
    produced = await kafka.produce(
        settings.kafka.topic(DISCHARGE_STATUS),
        event.model_dump_json(exclude_none=True).encode(),
        key=person.spell_id.encode(),
    )
    # Who changed the plan, in this request's transaction (not written if the broker refused).
    AuditRepository(session).record(
        user, "discharge.status_update", f"discharge:{ref}", status=body.status,
        la=person.local_authority, event_id=event.event_id,
    )  # fmt: skip
    return ProducedOut(topic=produced.topic, partition=produced.partition, offset=produced.offset)

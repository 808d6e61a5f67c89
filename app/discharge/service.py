"""The social-care discharge view of one local authority: who is waiting to leave hospital,
care-home vacancies nearby, and suggested matches — with no patient identifier in it.

Rows carry an opaque ``ref`` (a keyed hash of the spell id); a role that needs to know who the
person is asks for the identity of one ref through an audited REST call.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.carehomes.repository import CareHomeRepository, Vacancy
from app.carehomes.service import STALE_AFTER, admittable, homes_summary
from app.discharge.matching import matches_for
from app.discharge.repository import DischargeRepository, Pending
from app.discharge.schemas import DischargesView, MatchOut, WaitingPerson, WaitingSummary
from app.errors import NotFound
from app.topology.repository import TopologyRepository
from app.topology.schemas import LocalAuthorityOut


def spell_ref(spell_id: str, key: str) -> str:
    return hmac.new(key.encode(), spell_id.encode(), hashlib.sha256).hexdigest()[:12]


async def discharges_view(
    session: AsyncSession, la_code: str, *, now: datetime, ref_key: str
) -> tuple[DischargesView, datetime | None]:
    """The view's data, and when it next changes with time alone (a day more waited, a report
    turning stale)."""
    las = {la.code: la for la in await TopologyRepository(session).local_authorities()}
    la = las.get(la_code)
    if la is None:
        raise NotFound(f"no local authority {la_code}")
    neighbours = {code: list(item.neighbours or []) for code, item in las.items()}
    pending = await DischargeRepository(session).pending([la_code], now=now)
    vacancies = await CareHomeRepository(session).vacancies([la_code, *neighbours[la_code]])
    people = [_person(p, vacancies, neighbours, now, ref_key) for p in pending]
    data = DischargesView(
        local_authority=LocalAuthorityOut(
            code=la.code, name=la.name, neighbours=neighbours[la_code]
        ),
        now=now.isoformat(),
        pending=people,
        summary=_summary(people, vacancies, now),
        homes=homes_summary(vacancies, now),
    )
    return data, _next_change(pending, vacancies, now)


def _person(
    person: Pending,
    vacancies: list[Vacancy],
    neighbours: dict[str, list[str]],
    now: datetime,
    ref_key: str,
) -> WaitingPerson:
    ready = person.discharge_ready_at or now
    return WaitingPerson(
        ref=spell_ref(person.spell_id, ref_key),
        site=person.site,
        ward=person.ward,
        pathway=person.pathway,
        status=person.status,
        ready_at=ready.isoformat(),
        days_since_ready=(now - ready).days,
        delay_reason=person.delay_reason,
        needs_bed_type=person.needs_bed_type,
        expected_discharge_date=person.expected_discharge_date,
        matches=[
            MatchOut(
                home=m.home_code,
                name=m.home_name,
                local_authority=m.local_authority,
                bed_type=m.bed_type,
                admittable=m.admittable,
                reported_at=m.reported_at.isoformat(),
                stale=m.stale,
                neighbour=m.neighbour,
            )
            for m in matches_for(person, vacancies, neighbours, now=now)
        ],
    )


def _summary(
    people: list[WaitingPerson], vacancies: list[Vacancy], now: datetime
) -> WaitingSummary:
    fresh = [v for v in vacancies if now - v.reported_at <= STALE_AFTER]
    beds: Counter[str] = Counter()
    for vacancy in fresh:
        if vacancy.open_to_admissions:
            beds[vacancy.bed_type] += admittable(vacancy)
    return WaitingSummary(
        waiting=len(people),
        by_pathway=dict(sorted(Counter(p.pathway or "unknown" for p in people).items())),
        longest_days=max((p.days_since_ready for p in people), default=None),
        over_7_days=sum(1 for p in people if p.days_since_ready >= 7),
        admittable_fresh_by_bed_type=dict(sorted(beds.items())),
    )


def _next_change(
    pending: list[Pending], vacancies: list[Vacancy], now: datetime
) -> datetime | None:
    candidates = [v.reported_at + STALE_AFTER for v in vacancies]
    for person in pending:
        if person.discharge_ready_at is not None:
            waited = now - person.discharge_ready_at
            candidates.append(person.discharge_ready_at + timedelta(days=waited.days + 1))
    future = [at for at in candidates if at > now]
    return min(future, default=None)

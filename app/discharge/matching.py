"""Care-home matching for people waiting on pathway 2 or 3 — pure, no I/O (issue #4 item 5).

For each pending P2/P3 discharge that names the bed type it needs: the homes with an admittable
vacant bed of that type, open to admissions, in the person's local authority first and then in
neighbouring ones; freshest reports first. A report older than 7 days is still listed (a phone
call may confirm it) but flagged stale; a home closed to admissions is never suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.carehomes.repository import Vacancy
from app.carehomes.service import STALE_AFTER, admittable
from app.discharge.repository import Pending

MATCHED_PATHWAYS = ("P2", "P3")


@dataclass(frozen=True)
class Match:
    home_code: str
    home_name: str
    local_authority: str
    bed_type: str
    admittable: int
    reported_at: datetime
    stale: bool
    neighbour: bool


def matches_for(
    person: Pending,
    vacancies: Sequence[Vacancy],
    neighbours: dict[str, list[str]],
    *,
    now: datetime,
    limit: int = 5,
) -> list[Match]:
    if person.pathway not in MATCHED_PATHWAYS or not person.needs_bed_type:
        return []
    home_la = person.local_authority or ""
    nearby = set(neighbours.get(home_la, []))
    candidates = [
        Match(
            v.home_code,
            v.home_name,
            v.local_authority,
            v.bed_type,
            admittable(v),
            v.reported_at,
            now - v.reported_at > STALE_AFTER,
            v.local_authority != home_la,
        )
        for v in vacancies
        if v.bed_type == person.needs_bed_type
        and v.open_to_admissions
        and admittable(v) > 0
        and (v.local_authority == home_la or v.local_authority in nearby)
    ]
    candidates.sort(key=lambda m: (m.neighbour, m.stale, -m.reported_at.timestamp(), m.home_code))
    return candidates[:limit]

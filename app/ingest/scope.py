"""What a scoped ingest key may write (issue #16): every decoded event is checked against the
sites (or, for care homes, the local authorities) its key names — an ingest key for one trust
cannot move another trust's patients, close its beds or change a person's discharge plan. An
unscoped key (no sites, no authorities) and an admin write anything, as before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.schemas import Principal
from app.carehomes.repository import CareHomeRepository
from app.occupancy.events import Location
from app.occupancy.places import Places
from app.occupancy.repository import OccupancyRepository


def _sites_of(places: Places, source: str, location: Location | None) -> set[str]:
    """The sender's own site and the site the event places someone in (in our codes)."""
    own = (places.mapping.location(source, Location()) or Location()).site
    placed = (places.mapping.location(source, location) or Location()).site if location else own
    return {placed} | ({own} if own else set())  # "" when nothing names a site: refused


async def out_of_scope(
    session: AsyncSession, user: Principal, kind: str, events: Sequence[Any]
) -> str | None:
    """Why this key may not write these events, or None."""
    if not user.scoped:
        return None
    allowed = set(user.sites)
    if kind in ("hl7v2", "fhir", "discharge"):
        places = await OccupancyRepository(session).places()
        for event in events:
            if kind == "discharge":
                touched = _sites_of(places, event.spell_key.split(":", 1)[0], None)
            else:
                touched = _sites_of(places, event.source, event.location)
            if not touched <= allowed:
                outside = sorted(touched - allowed)[0] or "no site of this economy"
                return f"this key writes for {sorted(allowed)}; the message is for {outside}"
    if kind == "ambulance":
        for event in events:
            if event.destination_site not in allowed:
                return f"this key writes for {sorted(allowed)}, not {event.destination_site}"
    if kind == "carehome":
        repository = CareHomeRepository(session)
        for report in events:
            la = await repository.home_authority(report.home_code)
            if la not in user.local_authorities:
                return f"this key writes for {user.local_authorities}; {report.home_code} is not"
    return None

"""Load the configured economy into PostgreSQL (at start and whenever the file changes)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.topology.models import CareHome, LocalAuthority, Organisation, Site, Unit
from app.topology.repository import TopologyRepository
from app.topology.schemas import EconomyConfig, bed_specs


async def load_economy(session: AsyncSession, economy: EconomyConfig) -> dict[str, int]:
    """Upsert the economy; returns counts. The caller owns the transaction."""
    repo = TopologyRepository(session)
    await repo.upsert(
        LocalAuthority,
        [
            {"code": la.code, "name": la.name, "neighbours": la.neighbours}
            for la in economy.local_authorities
        ],
    )
    await repo.upsert(
        Organisation,
        [{"code": o.code, "name": o.name, "kind": o.kind} for o in economy.organisations],
    )
    await repo.upsert(
        Site,
        [
            {
                "code": s.code,
                "org_code": s.org,
                "name": s.name,
                "kind": s.kind,
                "local_authority": s.local_authority,
                "opel_weight": s.opel_weight,
                "active": True,
            }
            for s in economy.sites
        ],
    )
    retired = await repo.retire_sites_except({s.code for s in economy.sites})
    await repo.upsert(
        Unit,
        [
            {
                "id": f"{s.code}:{u.code}",
                "site_code": s.code,
                "code": u.code,
                "name": u.name,
                "kind": u.kind,
                "specialty": u.specialty,
                "spaces": sum(u.areas.values()),
                "areas": dict(u.areas),
                "care": u.care,
            }
            for s in economy.sites
            for u in s.units
        ],
    )
    specs = [
        spec for site in economy.sites for unit in site.units for spec in bed_specs(site, unit)
    ]
    await repo.upsert_beds(specs)
    removed = await repo.remove_unconfigured_beds({spec.id for spec in specs})
    await repo.upsert(
        CareHome,
        [
            {
                "code": h.code,
                "name": h.name,
                "local_authority": h.local_authority,
                "provider": h.provider,
            }
            for h in economy.care_homes
        ],
    )
    await repo.replace_capacity(
        [
            {"home_code": h.code, "bed_type": bed_type, "capacity": capacity}
            for h in economy.care_homes
            for bed_type, capacity in h.capacity.items()
        ]
    )
    await repo.analyze()
    return {
        "sites": len(economy.sites),
        "units": sum(len(site.units) for site in economy.sites),
        "beds": len(specs),
        "beds_removed": removed,
        "sites_retired": retired,
        "care_homes": len(economy.care_homes),
    }

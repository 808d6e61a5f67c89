"""All SQL for the topology: upserts of the configured economy and the bed master lookups."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import any_of
from app.db import table as table_of
from app.topology.models import (
    Bed,
    CareHome,
    CareHomeCapacity,
    EconomyVersion,
    LocalAuthority,
    Organisation,
    Site,
    Unit,
)
from app.topology.schemas import BedSpec


class TopologyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, model: type[object], rows: Sequence[dict[str, object]]) -> None:
        if not rows:
            return
        table = table_of(model)
        keys = [column.name for column in table.primary_key.columns]
        statement = insert(table)
        updates = {name: statement.excluded[name] for name in rows[0] if name not in keys}
        statement = (
            statement.on_conflict_do_update(index_elements=keys, set_=updates)
            if updates
            else statement.on_conflict_do_nothing(index_elements=keys)
        )
        # executemany: one statement compiled (and cached) once, not a 10,000-row VALUES list
        # compiled afresh on every start (that took ~3 s for a regional economy).
        await self.session.execute(statement, list(rows))

    async def retire_sites_except(self, codes: set[str]) -> int:
        """Sites no longer in the economy stop counting (the system OPEL, the boards); their
        history stays."""
        result = await self.session.execute(
            update(Site).where(Site.code.not_in(sorted(codes)), Site.active).values(active=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def upsert_beds(self, specs: Sequence[BedSpec]) -> None:
        """New beds are inserted with their configured status; existing beds keep their live
        status and occupant (configuration must not reopen a bed the ward closed)."""
        rows = [
            {
                "id": spec.id,
                "unit_id": spec.unit_id,
                "site_code": spec.site_code,
                "code": spec.code,
                "bay": spec.bay,
                "kind": spec.kind,
                "status": spec.status,
                "position": spec.position,
            }
            for spec in specs
        ]
        statement = insert(table_of(Bed))
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "unit_id": statement.excluded.unit_id,
                "bay": statement.excluded.bay,
                "kind": statement.excluded.kind,
                "position": statement.excluded.position,
            },
        )
        if rows:
            await self.session.execute(statement, rows)

    async def remove_unconfigured_beds(self, keep: set[str]) -> int:
        """Beds dropped from the configuration go, unless someone is in them right now."""
        existing = await self.session.execute(
            select(Bed.id).where(Bed.occupant_encounter_id.is_(None))
        )
        stale = [bed_id for (bed_id,) in existing if bed_id not in keep]
        if stale:
            await self.session.execute(delete(Bed).where(Bed.id.in_(stale)))
        return len(stale)

    async def loaded_digest(self, code: str) -> str | None:
        version = await self.session.get(EconomyVersion, code)
        return version.digest if version else None

    async def record_digest(self, code: str, digest: str) -> None:
        statement = insert(table_of(EconomyVersion)).values(code=code, digest=digest)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["code"], set_={"digest": digest, "loaded_at": func.now()}
            )
        )

    async def analyze(self) -> None:
        """Refresh the planner's statistics of the topology tables just written. Loaded into
        empty tables, they would be planned as empty until autovacuum's next look (up to a
        minute or more): the engine's discharge figures then nested-looped over every bed for
        each spell, 25-49 ms an evaluation instead of ~1. Without the MAINTAIN privilege
        PostgreSQL warns and skips a table; nothing fails."""
        await self.session.execute(
            text("ANALYZE sites, units, beds, care_homes, care_home_capacity, local_authorities")
        )

    async def replace_capacity(self, rows: Sequence[dict[str, object]]) -> None:
        await self.session.execute(delete(CareHomeCapacity))
        await self.upsert(CareHomeCapacity, rows)

    async def sites(self) -> Sequence[Site]:
        return (
            (await self.session.execute(select(Site).where(Site.active).order_by(Site.code)))
            .scalars()
            .all()
        )

    async def site_codes(self, codes: Sequence[str]) -> set[str]:
        """Which of these are sites of the economy (active ones)."""
        if not codes:
            return set()
        query = select(Site.code).where(any_of(Site.code, codes), Site.active)
        return set((await self.session.scalars(query)).all())

    async def site(self, code: str) -> Site | None:
        return await self.session.get(Site, code)

    async def units(self, site_code: str | None = None) -> Sequence[Unit]:
        query = select(Unit).order_by(Unit.site_code, Unit.code)
        if site_code is not None:
            query = query.where(Unit.site_code == site_code)
        return (await self.session.execute(query)).scalars().all()

    async def organisations(self) -> Sequence[Organisation]:
        query = select(Organisation).order_by(Organisation.code)
        return (await self.session.execute(query)).scalars().all()

    async def local_authorities(self) -> Sequence[LocalAuthority]:
        query = select(LocalAuthority).order_by(LocalAuthority.code)
        return (await self.session.execute(query)).scalars().all()

    async def care_homes(self) -> Sequence[CareHome]:
        return (
            (await self.session.execute(select(CareHome).order_by(CareHome.code))).scalars().all()
        )

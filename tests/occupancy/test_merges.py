"""A40 merges are read for a batch's patients only, chains followed in PostgreSQL: the same
answer as following every merge in Python (the way it was read before), on random merge graphs
with chains, fans and cycles."""

from __future__ import annotations

import random

from sqlalchemy.ext.asyncio import AsyncSession

from app.occupancy.models import PatientMerge
from app.occupancy.repository import OccupancyRepository


def followed(merged: dict[str, str]) -> dict[str, str]:
    """Every merged id → where its chain ends; a chain back on itself ends at the first id
    seen twice."""
    resolved = {}
    for old, new in merged.items():
        seen = {old}
        while new in merged and new not in seen:
            seen.add(new)
            new = merged[new]
        resolved[old] = new
    return resolved


async def test_chains_match_following_every_merge(db_session: AsyncSession) -> None:
    repository = OccupancyRepository(db_session)
    rng = random.Random(17)
    for graph in range(60):
        people = [f"G{graph}P{n}" for n in range(rng.randrange(2, 12))]
        merged = {
            old: rng.choice(people)
            for old in rng.sample(people, rng.randrange(1, 8) % len(people) or 1)
        }
        db_session.add_all(
            PatientMerge(old_patient_id=o, new_patient_id=n) for o, n in merged.items()
        )
        await db_session.flush()
        asked = rng.sample(people, rng.randrange(1, len(people) + 1))
        expected = {p: end for p, end in followed(merged).items() if p in asked}
        assert await repository.merges(asked) == expected, (merged, asked)
    assert await repository.merges([]) == {}

"""What the projector knows about places when it folds: our units (which are in ED) and each
sender's location mapping — read once per batch, so a new mapping or a reloaded economy applies
to the next batch without a restart."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

from app.occupancy.events import Location
from app.occupancy.fold import WardNames
from app.occupancy.mapping import LocationMap, SourceMapping


@dataclass(frozen=True)
class EconomyPlaces:
    """A location (in our codes) is in ED when its unit is an ED unit; a unit we do not know is
    read by its name (WardNames)."""

    unit_kinds: dict[tuple[str, str], str] = field(default_factory=dict)

    def is_ed(self, location: Location) -> bool | None:
        kind = self.unit_kinds.get((location.site, location.ward))
        if kind is None:
            return WardNames().is_ed(location)
        return kind == "ed"


@dataclass(frozen=True)
class Places:
    """Everything a fold of this batch needs about places."""

    economy: EconomyPlaces
    mapping: LocationMap

    @cached_property
    def digest(self) -> str:
        """What a fold depends on here, in 16 hex digits: a spell folded under other places
        (a new mapping, a reloaded economy) is re-folded, not advanced (ADR 0008)."""
        units = self.economy.unit_kinds
        material = {
            "units": sorted(f"{site}|{ward}|{kind}" for (site, ward), kind in units.items()),
            "sites": sorted(self.mapping.known_sites),
            "senders": [m.model_dump(mode="json") for m in self.mapping.organisations],
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def with_default_sites(
    mapping: LocationMap, sites_by_org: dict[str, list[str]], known_sites: frozenset[str]
) -> LocationMap:
    """A sender that is one of our single-site organisations needs no mapping to be placed: a
    PV1-3 without PL.4 is read as that site (an ED arrival without a facility still counts)."""
    implied = [
        SourceMapping(source=org, site=sites[0])
        for org, sites in sites_by_org.items()
        if len(sites) == 1 and org not in mapping.by_source
    ]
    return LocationMap(organisations=[*mapping.organisations, *implied], known_sites=known_sites)

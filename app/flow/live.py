"""The incremental engine's memory (issue #17, lever 3; ADR 0009): per site, the rows its facts are
computed from, kept up to date from each committed batch's changes instead of re-read per event.

Held per site: its units (static until the economy changes), each unit's bed counts (from the
``unit`` deltas the projector reads back after its batch), the spells that can count in an ED or
discharge figure (from the projector's ``spell`` deltas: their columns as committed) and the
ambulance journeys that can count in a handover figure (re-read when an ambulance event touches
the site). Time windows are applied when the facts are taken, with the evaluation's ``now`` —
so a patient crossing an hour, or midnight passing, is exact without any delta.

The discharge-plan figures (NCTR, expected discharges) are still read per evaluation (one
statement for all the sites evaluated): they join plans, spells and beds, and plans change
through their own feed.

Pure: no I/O. The evaluator fills it (app/flow/evaluator.py), and a periodic reconciliation
compares its facts with a full recomputation from the database (FlowRepository.site_facts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from app.changes import SPELL_COLUMNS
from app.flow.facts import (
    ED_HORIZON,
    GA_CARE,
    QUEUE_HORIZON,
    DischargeFacts,
    QueuedJourney,
    SiteFacts,
    by_area,
)


@dataclass(frozen=True, slots=True)
class SpellFacts:
    """A spell's columns the site facts read (its ED and discharge instants)."""

    id: str
    site_code: str | None
    status: str | None
    ed_area: str | None
    ed_arrived_at: datetime | None
    ed_departed_at: datetime | None
    decision_to_admit_at: datetime | None
    admitted_at: datetime | None
    discharged_at: datetime | None

    @classmethod
    def from_json(cls, spell_id: str, data: Mapping[str, Any]) -> SpellFacts:
        def time(name: str) -> datetime | None:
            value = data.get(name)
            return datetime.fromisoformat(value) if value else None

        return cls(
            spell_id,
            data.get("site_code"),
            data.get("status"),
            data.get("ed_area"),
            *(time(name) for name in SPELL_COLUMNS[3:]),
        )

    def counts(self, hour_ago: datetime, midnight: datetime) -> bool:
        """Can this spell count in a figure now or later? (Not once this is False: the windows
        only move forward; a change to the spell comes as a new delta.)"""
        return (
            self.status == "ed"
            or _after(self.ed_arrived_at, hour_ago)
            or _since(self.ed_departed_at, midnight)
            or _since(self.discharged_at, midnight)
        )


@dataclass(frozen=True, slots=True)
class Journey:
    incident_id: str
    patient: str
    vehicle: str | None
    category: int
    conveying_at: datetime | None
    arrived_at: datetime | None
    handover_at: datetime | None
    clear_at: datetime | None


@dataclass(frozen=True, slots=True)
class UnitInfo:
    id: str
    kind: str
    care: str
    spaces: int
    areas: Mapping[str, int]


@dataclass
class SiteMemory:
    units: dict[str, UnitInfo]
    counts: dict[str, dict[str, int]]  # unit id → its bed counts
    spells: dict[str, SpellFacts]
    journeys: list[Journey]


@dataclass
class LiveFacts:
    sites: dict[str, SiteMemory] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)  # to be (re)loaded before their next facts
    _where: dict[str, str] = field(default_factory=dict)  # spell → the site holding it

    def load(self, site: str, memory: SiteMemory) -> None:
        old = self.sites.get(site)
        for spell_id in old.spells if old else ():
            self._where.pop(spell_id, None)
        self.sites[site] = memory
        for spell_id in memory.spells:
            self._where[spell_id] = site
        self.stale.discard(site)

    def forget(self, sites: Iterable[str]) -> None:
        """These sites' memory may be wrong: reload before their next facts."""
        self.stale |= set(sites)

    def apply_spell(self, spell: SpellFacts | None, spell_id: str, now: datetime,
                    midnight: datetime) -> set[str]:  # fmt: skip
        """A spell as committed (None: deleted). Returns the sites whose facts it may move."""
        moved: set[str] = set()
        previous = self._where.pop(spell_id, None)
        if previous is not None:
            self.sites[previous].spells.pop(spell_id, None)
            moved.add(previous)
        if spell is None or spell.site_code is None:
            return moved
        memory = self.sites.get(spell.site_code)
        if memory is None:
            return moved  # not an acute site of the economy
        moved.add(spell.site_code)
        if spell.counts(now - timedelta(hours=1), midnight):
            memory.spells[spell_id] = spell
            self._where[spell_id] = spell.site_code
        return moved

    def apply_units(self, unit_id: str, counts: Mapping[str, int]) -> str | None:
        """A unit's bed counts as committed; returns its site (units are ``SITE:CODE``)."""
        site = unit_id.split(":", 1)[0]
        memory = self.sites.get(site)
        if memory is None or unit_id not in memory.units:
            return None
        memory.counts[unit_id] = dict(counts)
        return site

    def prune(self, now: datetime, midnight: datetime) -> None:
        """Drop spells that can no longer count (memory stays the size of the live sites)."""
        hour_ago = now - timedelta(hours=1)
        for memory in self.sites.values():
            gone = [k for k, s in memory.spells.items() if not s.counts(hour_ago, midnight)]
            for spell_id in gone:
                del memory.spells[spell_id]
                self._where.pop(spell_id, None)

    def facts(
        self, site: str, now: datetime, midnight: datetime, discharge: DischargeFacts
    ) -> SiteFacts:
        memory = self.sites[site]
        return SiteFacts(
            unit_counts=_unit_totals(memory),
            ed_spaces=sum(u.spaces for u in memory.units.values() if u.kind == "ed"),
            ed_area_spaces=_area_spaces(memory.units.values()),
            **_ed(memory.spells.values(), now, midnight),
            **_ambulance(memory.journeys, now, midnight),
            nctr=discharge.nctr,
            expected_today=discharge.expected_today,
        )


def _ed(spells: Iterable[SpellFacts], now: datetime, midnight: datetime) -> dict[str, Any]:
    """As FlowRepository: patients in the department (within the horizon; the rest counted
    apart), arrivals in the last hour, departures and discharges since midnight."""
    here = [s for s in spells if s.status == "ed" and s.ed_arrived_at is not None]
    current = [s for s in here if s.ed_arrived_at and s.ed_arrived_at > now - ED_HORIZON]
    hour_ago = now - timedelta(hours=1)
    return {
        "ed_waiting": [(s.ed_arrived_at, s.decision_to_admit_at) for s in current],
        "ed_areas": by_area(s.ed_area for s in current),
        "ed_stale": len(here) - len(current),
        "ed_arrivals": [s.ed_arrived_at for s in spells if _after(s.ed_arrived_at, hour_ago)],
        "ed_departures": [
            (s.ed_arrived_at, s.ed_departed_at)
            for s in spells
            if s.ed_arrived_at and s.ed_departed_at and s.ed_departed_at >= midnight
        ],
        "discharged_today": [
            s.discharged_at
            for s in spells
            if s.discharged_at and s.discharged_at >= midnight and s.admitted_at
        ],
    }


def _ambulance(journeys: list[Journey], now: datetime, midnight: datetime) -> dict[str, Any]:
    horizon = now - QUEUE_HORIZON
    waiting = sorted(
        (
            j
            for j in journeys
            if _after(j.arrived_at, horizon) and not (j.handover_at or j.clear_at)
        ),
        key=lambda j: (j.arrived_at, j.incident_id, j.patient),
    )
    return {
        "queue": [
            QueuedJourney(j.incident_id, j.vehicle, j.category, j.arrived_at) for j in waiting
        ],
        "en_route": sum(
            1
            for j in journeys
            if _after(j.conveying_at, horizon) and not (j.arrived_at or j.handover_at or j.clear_at)
        ),
        "handovers": [
            (j.arrived_at, j.handover_at, j.clear_at)
            for j in journeys
            if j.arrived_at and j.handover_at and j.handover_at >= midnight
        ],
    }


def _unit_totals(memory: SiteMemory) -> dict[str, int]:
    """G&A units' counts summed (critical care, maternity, paediatrics left out: domain.md §8)."""
    totals: dict[str, int] = {}
    for unit_id, counts in memory.counts.items():
        if memory.units[unit_id].care == GA_CARE:
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    return totals


def _area_spaces(units: Iterable[UnitInfo]) -> dict[str, int]:
    spaces: dict[str, int] = {}
    for unit in units:
        for area, count in unit.areas.items() if unit.kind == "ed" else ():
            spaces[area] = spaces.get(area, 0) + count
    return spaces


def _after(when: datetime | None, instant: datetime) -> bool:
    return when is not None and when > instant


def _since(when: datetime | None, instant: datetime) -> bool:
    return when is not None and when >= instant


def same(a: SiteFacts, b: SiteFacts) -> list[str]:
    """The facts that differ between two computations (order of rows aside)."""
    return [
        f.name
        for f in fields(SiteFacts)
        if _normal(getattr(a, f.name)) != _normal(getattr(b, f.name))
    ]


def _normal(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return sorted((_normal(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: v for k, v in sorted(value.items()) if v != 0}
    return value

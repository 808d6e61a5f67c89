"""The incremental engine's memory (issue #17, lever 3; ADR 0009): per site, the rows its facts are
computed from, kept up to date from each committed batch's changes instead of re-read per event.

Held per site: its units (static until the economy changes), each unit's bed counts (from the
``unit`` deltas the projector reads back after its batch), the spells that can count in an ED or
discharge figure (from the projector's ``spell`` deltas: their columns as committed) and the
ambulance journeys that can count in a handover figure (re-read when an ambulance event touches
the site). Time windows are applied when the facts are taken, with the evaluation's ``now`` —
so a patient crossing an hour, or midnight passing, is exact without any delta.

The discharge figures (NCTR, expected discharges) too: per site the spells in a bed or gone
today (``inpatients``); for the economy its G&A bed-master beds and the discharge plans of
spells not ended before today (a plan changes only through the discharge feed, whose writer
touches every site: the plans are then read again). A spell ended before today that comes back
(a cancelled discharge, A13; a readmission) is not held with its plan: the projector's delta says
the spell's row was discharged before today, and its site and the plans are read again.

Pure: no I/O. The evaluator fills it (app/flow/evaluator.py), and a periodic reconciliation
compares its facts with a full recomputation from the database (FlowRepository.site_facts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from app.changes import SPELL_COLUMNS
from app.clock import LONDON, next_local_midnight
from app.flow.facts import (
    ED_HORIZON,
    GA_CARE,
    NOT_NCTR,
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
    bed_id: str | None
    pending_discharge: bool | None
    ed_arrived_at: datetime | None
    ed_departed_at: datetime | None
    decision_to_admit_at: datetime | None
    admitted_at: datetime | None
    discharged_at: datetime | None
    expected_discharge_at: datetime | None  # the PAS's EDD (PV2-9)

    @classmethod
    def from_json(cls, spell_id: str, data: Mapping[str, Any]) -> SpellFacts:
        def column(name: str) -> Any:
            value = data.get(name)
            return datetime.fromisoformat(value) if value and name.endswith("_at") else value

        return cls(spell_id, *(column(name) for name in SPELL_COLUMNS))

    def counts(self, hour_ago: datetime, midnight: datetime) -> bool:
        """Can this spell count in a figure now or later? (Not once this is False: the windows
        only move forward; a change to the spell comes as a new delta.)"""
        return (
            self.status == "ed"
            or _after(self.ed_arrived_at, hour_ago)
            or _since(self.ed_departed_at, midnight)
            or _since(self.discharged_at, midnight)
        )

    def in_or_gone_today(self, midnight: datetime) -> bool:
        """Can this spell count in a discharge figure (in a bed, or gone since midnight)?"""
        return self.status == "admitted" or _since(self.discharged_at, midnight)


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """A spell's discharge plan, as the discharge figures read it."""

    status: str
    pathway: str | None
    delay_reason: str | None
    local_authority: str | None
    discharge_ready_at: datetime | None
    expected_discharge_date: str | None  # ISO date


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
    spells: dict[str, SpellFacts]  # those that can count in an ED figure
    journeys: list[Journey]
    inpatients: dict[str, SpellFacts] = field(default_factory=dict)  # in a bed or gone today


@dataclass
class LiveFacts:
    sites: dict[str, SiteMemory] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)  # to be (re)loaded before their next facts
    _where: dict[str, str] = field(default_factory=dict)  # spell → the site holding it
    plans: dict[str, PlanFacts] = field(default_factory=dict)  # spell → its discharge plan
    ga_beds: frozenset[str] = frozenset()  # G&A bed-master beds, NCTR's population
    plans_stale: bool = True  # to be read (with the beds) before the next facts

    def load(self, site: str, memory: SiteMemory) -> None:
        old = self.sites.get(site)
        for spell_id in {*old.spells, *old.inpatients} if old else ():
            self._where.pop(spell_id, None)
        self.sites[site] = memory
        for spell_id in {*memory.spells, *memory.inpatients}:
            self._where[spell_id] = site
        self.stale.discard(site)

    def forget(self, sites: Iterable[str], *, plans: bool = False) -> None:
        """These sites' memory (and the plans) may be wrong: reload before their next facts."""
        self.stale |= set(sites)
        self.plans_stale = self.plans_stale or plans

    def planned(self, spell_ids: Iterable[str]) -> bool:
        """Has any of these spells a discharge plan (can it be on a discharge list)?"""
        return any(spell_id in self.plans for spell_id in spell_ids)

    def apply_spell(
        self, spell: SpellFacts | None, spell_id: str, now: datetime, midnight: datetime,
        was_discharged: datetime | None = None,
    ) -> set[str]:  # fmt: skip
        """A spell as committed (None: deleted). Returns the sites whose facts it may move."""
        moved: set[str] = set()
        previous = self._where.pop(spell_id, None)
        if previous is not None:
            self.sites[previous].spells.pop(spell_id, None)
            self.sites[previous].inpatients.pop(spell_id, None)
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
        if spell.in_or_gone_today(midnight):
            if previous is None and _before(was_discharged, midnight):
                # Back from a discharge before today: its plan was not read (or was let go).
                self.forget([spell.site_code], plans=True)
            memory.inpatients[spell_id] = spell
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
            for spell_id in [
                k for k, s in memory.spells.items() if not s.counts(hour_ago, midnight)
            ]:
                del memory.spells[spell_id]
            for spell_id in [
                k for k, s in memory.inpatients.items() if not s.in_or_gone_today(midnight)
            ]:
                del memory.inpatients[spell_id]  # gone before today: its plan let go
                self.plans.pop(spell_id, None)
        for spell_id, site in list(self._where.items()):
            held = self.sites[site]
            if spell_id not in held.spells and spell_id not in held.inpatients:
                del self._where[spell_id]

    def facts(self, site: str, now: datetime, midnight: datetime) -> SiteFacts:
        memory = self.sites[site]
        discharge = self.discharge(site, now, midnight)
        return SiteFacts(
            unit_counts=_unit_totals(memory),
            ed_spaces=sum(u.spaces for u in memory.units.values() if u.kind == "ed"),
            ed_area_spaces=_area_spaces(memory.units.values()),
            **_ed(memory.spells.values(), now, midnight),
            **_ambulance(memory.journeys, now, midnight),
            nctr=discharge.nctr,
            expected_today=discharge.expected_today,
        )

    def discharge(self, site: str, now: datetime, midnight: datetime) -> DischargeFacts:
        """As FlowRepository.discharge_facts: the NCTR patients (in a G&A bed-master bed, with
        a live plan whose discharge-ready time has passed) and the discharges expected today
        (the team's date of today, else the PAS's EDD within today, or a pending discharge)."""
        memory = self.sites[site]
        today = midnight.astimezone(LONDON).date().isoformat()
        tomorrow = next_local_midnight(midnight)
        nctr, expected = [], 0
        for spell in memory.inpatients.values():
            if not spell.in_or_gone_today(midnight):
                continue  # gone before a midnight passed since (let go at the next prune)
            plan = self.plans.get(spell.id)
            admitted = spell.status == "admitted"
            ready = _nctr_since(plan, now) if plan and admitted else None
            if plan and ready and spell.bed_id in self.ga_beds:
                nctr.append((plan.pathway, plan.delay_reason, plan.local_authority, ready))
            dated = plan.expected_discharge_date if plan else None
            edd = spell.expected_discharge_at
            if (
                dated == today
                or (dated is None and edd is not None and midnight <= edd < tomorrow)
                or (admitted and spell.pending_discharge)
            ):
                expected += 1
        return DischargeFacts(nctr, expected)


def _nctr_since(plan: PlanFacts, now: datetime) -> datetime | None:
    """Since when the plan's patient has had no criteria to reside (None: not, or not yet)."""
    ready = plan.discharge_ready_at
    return ready if plan.status not in NOT_NCTR and ready is not None and ready <= now else None


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


def _before(when: datetime | None, instant: datetime) -> bool:
    return when is not None and when < instant


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

"""Apply canonical ADT events to bed state — set-based, one batch at a time (ADR 0002, 0007).

For a batch: store the new events, as the sender sent them, in their encounters' histories (a
retry is a no-op); lock every touched encounter (in id order, so concurrent consumers cannot
deadlock); map each history's locations into our codes (app/occupancy/mapping.py) and re-fold
it in memory (app/occupancy/fold.py); then move bed occupancy to match, vacating before
occupying so two patients swapping beds in one batch resolve cleanly. Every new event whose
place is not in the bed master is listed as a location exception — one per message, whatever
batch it came in. ``deltas()`` gives what changed, once per batch. Never commits: the
consumer runner owns the transaction.
"""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import Counter

from app.changes import SPELL_COLUMNS, WAS_DISCHARGED, Delta, spell_changed
from app.occupancy.events import AdtEvent, Location
from app.occupancy.feed_repository import FeedRepository
from app.occupancy.fold import EncounterState
from app.occupancy.incremental import Folded, advance, fold_marked, load
from app.occupancy.places import Places
from app.occupancy.repository import OccupancyRepository, StoredSpell, spell_row
from app.occupancy.schemas import BedView, UnitCounts
from app.topology.models import Bed

FOLDS = Counter(
    "flowcc_folds_total",
    "Spells folded: advanced from their stored state, new in the batch, or re-folded from "
    "their history",
    ["path"],
)
INGEST_DUPLICATES = Counter(
    "flowcc_ingest_duplicates_total", "Events already applied (same message), ignored", ["kind"]
)

BED_STATUS_CODES = frozenset("CHIKOU")
# Events whose PV1-3 says where an inpatient is (a place that must be in the bed master).
PLACING = frozenset({"A01", "A02", "A06", "A08", "A12", "A13", "A17", "A21", "A22"})
RE_KEYING = frozenset({"A45", "A50"})


@dataclass
class ChangeSet:
    units: set[str] = field(default_factory=set)
    beds: dict[str, Bed] = field(default_factory=dict)
    # Each spell written (its columns the engine reads) or deleted (None), as it will commit.
    spells: dict[str, dict[str, object] | None] = field(default_factory=dict)

    def touch(self, bed: Bed) -> None:
        self.beds[bed.id] = bed
        self.units.add(bed.unit_id)


def bed_id_for(location: Location | None, source: str = "") -> str | None:
    """The bed master id ``SITE:WARD:BED``. A PV1-3 without a facility (PL.4) is read as a
    location of the sending facility, the way single-site feeds send it."""
    site = (location.site if location else "") or source
    if location is None or not (site and location.ward and location.bed):
        return None
    return f"{site}:{location.ward}:{location.bed}"


class OccupancyProjector:
    def __init__(self, repository: OccupancyRepository) -> None:
        self.repo = repository
        self.changes = ChangeSet()
        self._places: Places | None = None

    async def places(self) -> Places:
        if self._places is None:
            self._places = await self.repo.places()
        return self._places

    async def apply(self, event: AdtEvent) -> None:
        await self.apply_all([event])

    async def apply_all(self, events: list[AdtEvent]) -> None:
        """Apply these events. Raising, they leave the batch's spell images as they were (the
        caller's SAVEPOINT rolls their writes back: app/ingest, consumers/batch.py); the beds
        are flushed here, so anything the database refuses is refused inside this call."""
        images = dict(self.changes.spells)
        try:
            await self._apply_all(events)
            await self.repo.write_exceptions()
            await self.repo.session.flush()
        except BaseException:
            self.changes.spells = images
            self.repo.discard_exceptions()
            raise

    async def _apply_all(self, events: list[AdtEvent]) -> None:
        spell_events: list[AdtEvent] = []
        rekeyed: set[str] = set()
        for event in await self._by_policy(events):
            if event.trigger == "A20":
                await self._bed_status(event)
            elif event.trigger == "A40":
                if event.merged_patient_id and event.patient_id:
                    await self.repo.merge_patient(event.merged_patient_id, event.patient_id)
            elif event.trigger in RE_KEYING and event.prior_encounter_key:
                # A visit renumbered or moved: its history continues under the new number.
                await self.repo.rekey(event.prior_encounter_key, event.encounter_key)
                rekeyed |= {event.prior_encounter_key, event.encounter_key}
            elif event.trigger not in ("A28", "A31"):  # demographics only: never a bed
                spell_events += _per_encounter(event)
        await self._apply_spells(spell_events, rekeyed)

    async def _by_policy(self, events: list[AdtEvent]) -> list[AdtEvent]:
        """Each feed's processing-id policy: what it does not apply is counted, never silent."""
        mapping = (await self.places()).mapping
        applied = [event for event in events if mapping.applies(event)]
        dropped = Counter_((event.source, event.processing_id or "P") for event in events)
        dropped.subtract((event.source, event.processing_id or "P") for event in applied)
        for (source, processing_id), count in dropped.items():
            await FeedRepository(self.repo.session).count(
                source, f"dropped:processing_id:{processing_id}", count
            )
        return applied

    async def _apply_spells(self, events: list[AdtEvent], rekeyed: set[str]) -> None:
        unique = {event.dedupe_key: event for event in events}  # each key computed once
        stored = await self.repo.add_events(unique) if unique else set()
        new = [event for key, event in unique.items() if key in stored]
        INGEST_DUPLICATES.labels("adt").inc(len(events) - len(new))
        retries = Counter_(event.source for event in events)
        retries.subtract(event.source for event in new)
        for source, count in retries.items():
            await FeedRepository(self.repo.session).count(source, "duplicates", count)
        if not new and not rekeyed:
            return  # every one a redelivery: a no-op
        places = await self.places()
        mapped = [(raw, places.mapping.event(raw)) for raw in new]  # each event mapped once
        await self._exceptions(mapped, places)
        by_spell: dict[str, list[AdtEvent]] = {}
        for _, event in mapped:
            if event.encounter_key not in rekeyed:  # a re-keyed history is read back whole
                by_spell.setdefault(event.encounter_key, []).append(event)
        await self.refold(sorted(by_spell.keys() | rekeyed), places, by_spell)

    async def refold(
        self,
        encounter_ids: list[str],
        places: Places | None = None,
        new: Mapping[str, list[AdtEvent]] | None = None,
    ) -> None:
        """Re-derive these spells and move their beds to match. A spell whose stored fold ends
        before its ``new`` events (in our codes: mapped) is advanced from it (ADR 0008); any
        other is re-folded from its stored history (a late or cancelling event, a new location
        mapping, a re-keyed visit)."""
        places = places or await self.places()
        encounters = await self.repo.lock_encounters(encounter_ids)
        folds = self._advanced(encounters, new or {}, places)
        rest = [eid for eid in encounter_ids if eid not in folds]
        histories = await self.repo.histories(rest) if rest else {}
        for eid in rest:
            mapped = [places.mapping.event(e) for e in histories[eid]]
            folds[eid] = (fold_marked(mapped, places.economy, places.digest), len(mapped))
            FOLDS.labels("history").inc()
        targets = {
            eid: bed_id_for(folded.state.location, folded.source)
            if folded.state.holds_bed
            else None
            for eid, (folded, _) in folds.items()
        }
        beds = await self.repo.lock_beds(
            bed_ids=sorted({t for t in targets.values() if t}), held_by=encounter_ids
        )
        freed = self._vacate(beds, targets)
        await self._write(encounter_ids, encounters, folds, targets, beds)
        emptied = [e for e in encounter_ids if not folds[e][1]]
        await self.repo.delete_encounters(emptied)
        self.changes.spells.update(dict.fromkeys(emptied))
        await self._give_back(
            beds, [b for b in freed if beds[b].occupant_encounter_id is None], encounter_ids
        )
        await self.repo.write_exceptions()

    async def _write(
        self,
        encounter_ids: list[str],
        encounters: dict[str, StoredSpell],
        folds: dict[str, tuple[Folded, int]],
        targets: dict[str, str | None],
        beds: dict[str, Bed],
    ) -> None:
        """Each spell into its bed (vacated ones first) and its row, in one statement."""
        merges = await self.repo.merges([f.state.patient_id or "" for f, _ in folds.values()])
        placed: list[str] = []
        rows: list[dict[str, object]] = []
        for encounter_id in encounter_ids:
            (folded, event_count), target = folds[encounter_id], targets[encounter_id]
            state = folded.state
            self._occupy(beds, encounter_id, target, state)
            bed_id = target if target in beds else None  # an unknown one is an exception
            site = state.site or encounters[encounter_id].site_code
            patient_id = merges.get(state.patient_id or "", state.patient_id)
            rows.append(spell_row(encounter_id, folded, site, bed_id, event_count, patient_id))
            if bed_id or not state.holds_bed:
                placed.append(encounter_id)
        for row in rows:
            spell = str(row["spell"])
            earlier = self.changes.spells.get(spell)  # (the batch's first image saw the row)
            was = earlier[WAS_DISCHARGED] if earlier else encounters[spell].discharged_at
            self.changes.spells[spell] = {k: row[k] for k in SPELL_COLUMNS} | {WAS_DISCHARGED: was}
        await self.repo.save_encounters(rows)
        await self.repo.resolve_exceptions(placed)

    def _advanced(
        self,
        encounters: dict[str, StoredSpell],
        new: Mapping[str, list[AdtEvent]],
        places: Places,
    ) -> dict[str, tuple[Folded, int]]:
        """The spells whose new events need no history: each one's fold and event count."""
        folds: dict[str, tuple[Folded, int]] = {}
        paths: Counter_[str] = Counter_()
        for encounter_id, events in new.items():
            row = encounters[encounter_id]
            stored = load(row.fold)
            if stored is not None:
                folded = advance(stored, events, places.economy, places.digest)
                path = "advanced"
            elif not row.event_count:  # first seen in this batch: its events are its history
                folded, path = fold_marked(events, places.economy, places.digest), "new"
            else:
                continue
            if folded is not None:
                folds[encounter_id] = (folded, row.event_count + len(events))
                paths[path] += 1
        for path, count in paths.items():
            FOLDS.labels(path).inc(count)
        return folds

    def _vacate(self, beds: dict[str, Bed], targets: dict[str, str | None]) -> list[str]:
        freed = []
        for bed in beds.values():
            occupant = bed.occupant_encounter_id
            if occupant in targets and targets[occupant] != bed.id:
                bed.occupant_encounter_id = None
                bed.occupied_since = None
                self.changes.touch(bed)
                freed.append(bed.id)
        return freed

    async def _give_back(self, beds: dict[str, Bed], freed: list[str], refolded: list[str]) -> None:
        """A bed left empty may still be claimed by a patient displaced from it earlier (a late
        message of another spell briefly put that one there): give it back, so the final
        state depends only on the events, not on which partition was read first."""
        if not freed:
            return
        claims = await self.repo.claimants(freed, excluding=refolded)
        for bed_id, (encounter_id, since) in claims.items():
            bed = beds[bed_id]
            bed.occupant_encounter_id = encounter_id
            bed.occupied_since = since
            self.changes.touch(bed)

    def _occupy(
        self, beds: dict[str, Bed], encounter_id: str, target: str | None, state: EncounterState
    ) -> None:
        bed = beds.get(target) if target else None
        if bed is None:
            return
        since = state.location_since or state.last_event_time
        if bed.occupant_encounter_id == encounter_id:
            if bed.occupied_since != since:  # moved out and back within one batch
                bed.occupied_since = since
                self.changes.touch(bed)
            return
        if bed.occupant_encounter_id is not None:
            self._exception_row(
                encounter_id,
                state,
                # Never the other spell's key: it may carry a patient's MRN.
                "bed already held by another spell; reassigned to this one",
            )
        bed.occupant_encounter_id = encounter_id
        bed.occupied_since = since
        self.changes.touch(bed)

    async def _exceptions(self, new: Iterable[tuple[AdtEvent, AdtEvent]], places: Places) -> None:
        """Every new event (as sent, and mapped) that places an inpatient somewhere the bed
        master does not know — in the sender's own code (what an integrator maps), with the
        message it came in."""
        candidates: list[tuple[AdtEvent, Location, str | None]] = []
        for raw, event in new:
            location = event.location
            if raw.location is None or location is None or event.trigger not in PLACING:
                continue
            if event.patient_class in ("E", "O") or places.economy.is_ed(location):
                continue
            candidates.append((raw, location, bed_id_for(location, event.source)))
        known = await self.repo.existing_beds([bed for _, _, bed in candidates if bed])
        for raw, location, bed in candidates:
            if bed in known:
                continue
            assert raw.location is not None
            self.repo.add_exception(
                encounter_id=raw.encounter_key,
                source=raw.source,
                message_id=raw.message_id[:200],
                site_code=location.site or None,
                location_text=raw.location.text()[:200] or "(none)",
                trigger=raw.trigger,
                event_time=raw.event_time,
                detail="no bed in the location" if bed is None else "not in the bed master",
            )

    def _exception_row(self, encounter_id: str, state: EncounterState, detail: str) -> None:
        location = state.location or Location()
        self.repo.add_exception(
            encounter_id=encounter_id,
            site_code=location.site or None,
            location_text=location.text()[:200] or "(none)",
            trigger="fold",
            event_time=state.last_event_time,
            detail=detail,
        )

    async def _bed_status(self, event: AdtEvent) -> None:
        """A20: the bed's own status (table 0116) — closed, cleaning, isolated, open."""
        places = await self.places()
        location = places.mapping.location(event.source, event.location)
        bed_id = bed_id_for(location, event.source)
        status = (event.bed_status or "").upper()[:1]
        bed = (await self.repo.lock_beds(bed_ids=[bed_id], held_by=[])).get(bed_id or "")
        if bed is None or status not in BED_STATUS_CODES:
            self.repo.add_exception(
                encounter_id="",
                source=event.source,
                message_id=event.message_id[:200],
                site_code=(location.site if location else None) or None,
                location_text=(event.location.text() if event.location else "") or "(none)",
                trigger="A20",
                event_time=event.event_time,
                detail=f"A20 for an unknown bed or status {event.bed_status!r}",
            )
            return
        # O and U describe occupancy, which comes from ADT; as a bed status they mean "open".
        bed.status = "U" if status in ("O", "U") else status
        self.changes.touch(bed)

    async def deltas(self) -> list[Delta]:
        """The batch's deltas. Its beds are the rows this transaction locked and wrote; those an
        attempt rolled back to its SAVEPOINT has expired are read back (so the board shows
        exactly what commits), the others need no round trip."""
        changes, self.changes = self.changes, ChangeSet()
        deltas = [spell_changed(s, image) for s, image in sorted(changes.spells.items())]
        if not changes.units:
            return deltas
        await self.repo.session.flush()
        counts = await self.repo.unit_counts(sorted(changes.units))
        for unit_id, unit_counts in counts.items():
            site = unit_id.split(":", 1)[0]
            for view in (f"site:{site}", "system"):
                deltas.append(Delta(view, "unit", unit_id, UnitCounts(**unit_counts).model_dump()))
        for bed in await self.repo.as_written(changes.beds):
            data = bed_view(bed).model_dump()
            deltas.append(Delta(f"site:{bed.site_code}", "bed", bed.id, data))
        return deltas


def bed_view(bed: Bed) -> BedView:
    """What a board may know about a bed: never who is in it."""
    return BedView(
        unit=bed.unit_id,
        code=bed.code,
        bay=bed.bay,
        kind=bed.kind,
        status=bed.status,
        occupied=bed.occupant_encounter_id is not None,
        occupied_since=bed.occupied_since.isoformat() if bed.occupied_since else None,
    )


def _per_encounter(event: AdtEvent) -> list[AdtEvent]:
    """A17 (swap) is one move for each of the two spells."""
    if event.trigger != "A17" or not event.swap_encounter_key:
        return [event]
    other = event.model_copy(
        update={
            "encounter_key": event.swap_encounter_key,
            "location": event.swap_location,
            "patient_id": None,
            "nhs_number": None,
        }
    )
    return [event, other]

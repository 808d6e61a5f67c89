"""The SQL the occupancy repository (app/occupancy/repository.py) runs on every batch, built once:
building a statement was ~0.4 ms of Python a call, and a statement built once keeps its cache
key. Each takes its values as parameters — arrays for the batch's rows — so its text is the same
whatever the batch's size (one prepared statement per connection)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, bindparam, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert

from app.db import any_param, unnested
from app.db import table as table_of
from app.occupancy.models import Encounter, EncounterEvent, LocationException, ProcessedMessage
from app.topology.models import Bed

PLACES = text(
    "SELECT (SELECT json_agg(json_build_array(site_code, code, kind) ORDER BY site_code, code)"
    " FROM units) AS units,"
    " (SELECT json_agg(json_build_array(code, org_code, kind) ORDER BY code) FROM sites) AS sites,"
    " (SELECT json_agg(mapping ORDER BY source) FROM location_maps) AS maps"
)
# Each id's chain of merges, one step at a time; a step onto an id already in the chain is
# taken and is the last (the chain's end is then that id).
MERGE_CHAINS = text(
    """
    WITH RECURSIVE chain(start, id, path, closed, depth) AS (
        SELECT old_patient_id, new_patient_id, ARRAY[old_patient_id, new_patient_id]::text[],
               new_patient_id = old_patient_id, 1
        FROM patient_merges WHERE old_patient_id IN (SELECT unnest(CAST(:ids AS text[])))
        UNION ALL
        SELECT c.start, m.new_patient_id, c.path || m.new_patient_id::text,
               m.new_patient_id = ANY(c.path), c.depth + 1
        FROM chain c JOIN patient_merges m ON m.old_patient_id = c.id
        WHERE NOT c.closed
    )
    SELECT DISTINCT ON (start) start, id FROM chain ORDER BY start, depth DESC
    """
)


def _mark_processed() -> Any:
    """A batch's message ids of one source, those new returned."""
    table = table_of(ProcessedMessage)
    ids = unnested(table, ["message_id"])
    source = bindparam("source", type_=table.c.source.type)
    return (
        insert(table)
        .from_select(["source", "message_id"], select(source, ids.c.message_id))
        .on_conflict_do_nothing()
        .returning(table.c.message_id)
    )


MARK_PROCESSED = _mark_processed()
OPEN = (Bed.status != "C") | Bed.occupant_encounter_id.is_not(None)
GA = Bed.kind.in_(("core", "escalation"))
EVENT_COLUMNS = ["encounter_id", "dedupe_key", "trigger", "event_time", "payload_json"]
# A spell's derived columns (app/occupancy/repository.py spell_row), ``spell`` its id.
SPELL_ROW_COLUMNS = ["spell", "site_code", "patient_id", "nhs_number", "patient_class", "status",
                     "bed_id", "location_text", "ed_area", "arrived_at", "admitted_at",
                     "discharged_at", "ed_arrived_at", "ed_departed_at", "decision_to_admit_at",
                     "expected_discharge_at", "pending_discharge", "on_leave", "last_event_time",
                     "location_since", "event_count", "fold"]  # fmt: skip
EXCEPTION_COLUMNS = ["encounter_id", "source", "message_id", "site_code", "location_text",
                     "trigger", "event_time", "detail"]  # fmt: skip


def _statements() -> tuple[Any, Any, Any, Any, Any]:
    """The statements a batch makes every time, built once (building one was ~0.4 ms of Python
    a call; a built one's cache key is kept)."""
    events = table_of(EncounterEvent)
    # JSON made by pydantic's serializer, cast by PostgreSQL (not dumped twice in Python)
    given = unnested(events, EVENT_COLUMNS, {"payload_json": Text()})
    add_events = (
        insert(events)
        .from_select(
            [*EVENT_COLUMNS[:-1], "payload"],
            select(*(given.c[n] for n in EVENT_COLUMNS[:-1]), cast(given.c.payload_json, JSONB)),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(events.c.dedupe_key)
    )
    spells = table_of(Encounter)
    ids = unnested(spells, ["id"])
    upsert = insert(spells).from_select(["id", "status"], select(ids.c.id, literal("unknown")))
    lock_encounters = upsert.on_conflict_do_update(
        index_elements=[spells.c.id], set_={"id": upsert.excluded.id}
    ).returning(  # the fold as JSON text: validated by pydantic straight from the text
        spells.c.id,
        spells.c.site_code,
        spells.c.event_count,
        cast(spells.c.fold, Text).label("fold"),
        spells.c.discharged_at,
    )
    # every spell of the batch in one statement (executemany was one UPDATE per row: 18 ms of
    # a 500-record batch), the fold's JSON cast by PostgreSQL
    given_spells = unnested(spells, SPELL_ROW_COLUMNS, {"spell": spells.c.id.type, "fold": Text()})
    save_encounters = (
        update(spells)
        .where(spells.c.id == given_spells.c.spell)
        .values(
            {name: given_spells.c[name] for name in SPELL_ROW_COLUMNS[1:-1]}
            | {"fold": cast(given_spells.c.fold, JSONB)}
        )
    )
    exceptions = table_of(LocationException)
    rows = unnested(exceptions, EXCEPTION_COLUMNS)
    add_exceptions = insert(exceptions).from_select(
        EXCEPTION_COLUMNS, select(*(rows.c[name] for name in EXCEPTION_COLUMNS))
    )
    occupied = Bed.occupant_encounter_id.is_not(None)
    unit_counts = (
        select(
            Bed.unit_id,
            func.count().filter(Bed.kind == "core").label("core_beds"),
            func.count().filter(GA & OPEN).label("open_beds"),
            func.count().filter(GA & occupied).label("occupied"),
            func.count().filter(GA & OPEN & ~occupied & (Bed.status == "U")).label("free"),
            func.count()
            .filter(GA & ~occupied & (Bed.status != "U") & (Bed.status != "C"))
            .label("unavailable"),
            func.count()
            .filter((Bed.kind == "core") & (Bed.status == "C") & ~occupied)
            .label("closed"),
            func.count().filter((Bed.kind == "escalation") & OPEN).label("escalation_open"),
            func.count().filter((Bed.kind == "virtual") & occupied).label("virtual_occupied"),
        )
        .where(any_param(Bed.unit_id, "units"))
        .group_by(Bed.unit_id)
    )
    return add_events, lock_encounters, save_encounters, add_exceptions, unit_counts


ADD_EVENTS, LOCK_ENCOUNTERS, SAVE_ENCOUNTERS, ADD_EXCEPTIONS, UNIT_COUNTS = _statements()

"""The committed-change type (issue #19: neutral, below every domain and the board): a delta is
one changed thing on one view, published only after its transaction commits. The board hub and
the flow engine each subscribe to committed changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from pydantic import JsonValue

# A delta's data as it goes on the wire: a JSON object of one of the typed read-model shapes
# (its kind names which: app/board/protocol.py); typed models are dumped once, where made.
JsonObject = dict[str, JsonValue]


@dataclass(frozen=True)
class Delta:
    view: str  # site:<code> | system | discharges:<la> | carehomes:<la>
    kind: str  # unit | bed | exception | ...
    key: str
    data: JsonObject = field(default_factory=dict)

    def message(self) -> JsonObject:
        return {"kind": self.kind, "key": self.key, "data": self.data}


Subscriber = Callable[[list[Delta]], Awaitable[None]]


def to_all(*subscribers: Subscriber) -> Subscriber:
    """One subscriber that hands committed changes to each of these, in order."""

    async def deliver(deltas: list[Delta]) -> None:
        for subscriber in subscribers:
            await subscriber(deltas)

    return deliver


ENGINE_VIEW = "engine"  # not a board view: tells the flow engine which site to re-evaluate
ALL_SITES = "*"
CAREHOMES = "carehomes"  # care-home vacancies changed (social-care views)


def touch(site: str) -> Delta:
    """An internal note that a site's facts changed (consumed by the engine, never sent): the
    engine re-reads the site."""
    return Delta(ENGINE_VIEW, "touch", site)


# A spell's columns the engine's figures read (app/flow/live.py), as the projector committed them
# (the instants are the columns ending in ``_at``).
SPELL_COLUMNS = ("site_code", "status", "ed_area", "bed_id", "pending_discharge", "ed_arrived_at",
                 "ed_departed_at", "decision_to_admit_at", "admitted_at", "discharged_at",
                 "expected_discharge_at")  # fmt: skip
# With them, when the spell's row said it was discharged before the batch (a spell ended before
# today that comes back: the engine does not hold its discharge plan, app/flow/live.py).
WAS_DISCHARGED = "was_discharged_at"


def spell_changed(spell_id: str, columns: Mapping[str, object] | None) -> Delta:
    """An internal note of a spell as committed (None: deleted), for the engine's memory."""
    data: JsonObject = {"gone": True} if columns is None else {
        name: value.isoformat() if isinstance(value, datetime) else cast("JsonValue", value)
        for name, value in columns.items()
        if name in SPELL_COLUMNS or name == WAS_DISCHARGED
    }  # fmt: skip
    return Delta(ENGINE_VIEW, "spell", spell_id, data)

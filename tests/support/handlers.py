"""Consumer handlers with a deliberate fault, for the tests of refused batches."""

from __future__ import annotations

from typing import Any

from app.ingest.routing import AdtHandler


class CrashingAdt(AdtHandler):
    """The real ADT handler, with a projection bug that one spell's events meet (a visit whose
    number ends ``VCRASH``)."""

    async def apply_events(self, events: list[Any]) -> None:
        if any(event.encounter_key.endswith(":VCRASH") for event in events):
            raise KeyError("a bug")
        await super().apply_events(events)

"""FHIR R4 Encounters the way a FHIR-native PAS publishes them: every change to a spell is a
new version of its Encounter resource (status, class, current location, period).

A PAS with a FHIR feed has no equivalent of HL7's pending-admit (A14), so decisions to admit are
not published; a transfer is a new version whose previous location entry is completed; a
cancelled transfer is a new version back in the earlier bed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.simulation.hl7 import Place

STATUS = {"A04": "arrived", "SEEN": "in-progress", "A01": "in-progress", "A06": "in-progress",
          "A02": "in-progress", "A12": "in-progress", "A03": "finished", "A13": "in-progress",
          "A11": "entered-in-error"}  # fmt: skip


@dataclass
class FhirEncounters:
    facility: str
    versions: dict[str, int] = field(default_factory=dict)
    # Values of any type: FHIR R4 JSON as a sender writes it (free-form by the standard's nesting).
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    started: dict[str, datetime] = field(default_factory=dict)

    def render(
        self,
        visit: str,
        trigger: str,
        cls: str,
        when: datetime,
        recorded: datetime | None = None,
        **fields: Any,
    ) -> bytes | None:
        """A new version: ``when`` the change happened, ``recorded`` when the server wrote the
        version (meta.lastUpdated; a correction keyed later about an earlier time)."""
        status = STATUS.get(trigger)
        if status is None:
            return None
        self.versions[visit] = self.versions.get(visit, 0) + 1
        self.started.setdefault(visit, when)
        locations = self.history.setdefault(visit, [])
        place: Place | None = fields.get("location")
        if place is not None and status != "finished":
            for entry in locations:
                entry["status"] = "completed"
            where = f"{place.site}:{place.ward}:{place.bed or place.bay}"  # bed, or ED area
            locations.append(
                {
                    "location": {"reference": f"Location/{where}"},
                    "status": "active",
                    "period": {"start": when.isoformat()},
                }
            )
        elif status in ("finished", "entered-in-error"):
            for entry in locations:
                entry["status"] = "completed"
        period: dict[str, str] = {"start": self.started[visit].isoformat()}
        if status == "finished":
            period["end"] = when.isoformat()
        resource: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": f"{self.facility}-{visit}",
            "meta": {
                "versionId": str(self.versions[visit]),
                "lastUpdated": max(when, recorded or when).isoformat(),
                "source": self.facility,
            },
            "identifier": [{"system": self.facility, "value": visit}],
            "status": status,
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "EMER" if cls == "E" else "IMP",
            },
            "period": period,
        }
        if locations:
            resource["location"] = [dict(entry) for entry in locations]
        return json.dumps(resource).encode()

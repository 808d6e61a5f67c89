"""Import every domain's ORM models so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "app.ingest.models",
    "app.topology.models",
    "app.occupancy.models",
    "app.ambulance.models",
    "app.carehomes.models",
    "app.discharge.models",
    "app.escalation.models",
    "app.audit.models",
    "app.auth.models",
    "app.webhooks.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)

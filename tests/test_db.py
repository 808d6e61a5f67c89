"""The database layer: the ORM metadata is complete wherever an engine is made, whatever the
caller imported (`flowcc demo-history` imports the analytics path only, and its bulk insert of
encounters failed: the foreign key to ``beds`` named a table nobody had registered)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json
import app.occupancy.models  # what the analytics path imports: encounters, not beds
from app.config import DbSettings
from app.db import Base, create_engine
create_engine(DbSettings())  # no connection is made
print(json.dumps([table.name for table in Base.metadata.sorted_tables]))
"""


def test_an_engine_made_in_a_bare_process_knows_every_table() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    tables = json.loads(result.stdout)
    assert {"beds", "encounters", "discharge_plans", "ambulance_journeys"} <= set(tables)
    assert tables.index("beds") < tables.index("encounters")  # the foreign key resolved

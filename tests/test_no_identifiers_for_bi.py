"""A BI warehouse's key sees no identifier anywhere (issue #16): with patients on the board, one
waiting for discharge and a poison message in the dead letters — all carrying NHS numbers, MRNs,
names and visit numbers — every GET route in the schema and every board view the key may open
is read with it, and each answer is scanned for NHS-number-shaped strings, the identifiers used
and encounter keys."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from app.config import Settings
from app.ingest.redact import redacted
from tests.factories import hl7
from tests.support import bearer
from tests.support.kafka import committed, produce
from tests.support.seeds import seed_waiting_patient
from tests.support.services import isolated_kafka, live_server

pytestmark = pytest.mark.usefixtures("clean_db")
# In the messages and the seeded discharge (tests/factories.py, tests/test_discharges.py).
IDENTIFIERS = ("9449305552", "9434765919", "MRN1", "MRN77", "Testing", "19450101", "VSCAN",
               "VPOISON", "VD1", ":VN:", ":MR:")  # fmt: skip
PATH_VALUES = {"site_code": "RAN01", "scope": "RAN01", "letter_id": "1", "webhook_id": "1",
               "ref": "unknown"}  # fmt: skip
QUERIES = {"/api/v1/metric-samples": {"scope": "RAN01", "metric": "beds_occupied"},
           "/api/v1/discharges": {"local_authority": "E06000901"},
           "/api/v1/care-homes": {"local_authority": "E06000901"}}  # fmt: skip
VIEWS = ("system", "site:RAN01", "site:RWV01", "discharges:E06000901", "carehomes:E06000901")


def _scannable(text: str) -> str:
    """JSON: its strings and integers (an NHS number is never a decimal; frames carry their
    time as epoch seconds with a fraction); anything else: itself, decimals taken out."""
    try:
        document = json.loads(text)
    except ValueError:
        return re.sub(r"\d+\.\d+", " ", text)
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            parts.extend(str(key) for key in value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            parts.append(str(value))

    walk(document)
    return " ".join(parts)


def nhs_number_shaped(text: str) -> list[str]:
    """Ten digits (not part of a longer number) whose modulus-11 check digit is right."""
    found = []
    for candidate in re.findall(r"(?<!\d)\d{10}(?!\d)", _scannable(text)):
        total = sum(int(d) * w for d, w in zip(candidate[:9], range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if (0 if check == 11 else check) == int(candidate[9]):
            found.append(candidate)
    return found


async def _everything(base: str, key: dict[str, str]) -> dict[str, str]:
    answers: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base) as client:
        schema = (await client.get("/api/v1/openapi.json", headers=key)).json()
        for path, operations in schema["paths"].items():
            if "get" not in operations or path.endswith("/oidc/logout"):
                continue
            concrete = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m[1], "x"), path)
            for query in ({}, QUERIES.get(path)) if path in QUERIES else ({},):
                response = await client.get(concrete, params=query, headers=key)
                answers[f"GET {concrete} {query} → {response.status_code}"] = response.text
    return answers


async def _board(base: str, key: str) -> dict[str, str]:
    frames: dict[str, str] = {}
    async with connect(f"ws://{base.removeprefix('http://')}/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": key}))
        for view in VIEWS:
            await ws.send(json.dumps({"type": "subscribe", "view": view}))
            async with asyncio.timeout(20):
                while True:
                    frame: dict[str, Any] = json.loads(await ws.recv())
                    if frame.get("view") == view and frame["type"] in ("snapshot", "error"):
                        frames[f"board {view} → {frame['type']}"] = json.dumps(frame)
                        break
    return frames


async def test_a_bi_key_sees_no_identifier_anywhere(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    app_settings = isolated_kafka(settings)  # its own topics and group, consumers running
    await seed_waiting_patient(clean_db)
    admission = hl7("A01", 0, bed="B11", visit="VSCAN")
    # A .sp escape whose count is not a number: dead-lettered (tests/consumers/test_poison.py).
    poison = hl7("A01", 0, bed="B12", visit="VPOISON").replace(b"|I|AMU^", b"|I|AMU\\.spX\\^")
    async with live_server(app_settings) as host:
        base = f"http://{host}"
        before = await committed(clean_db)
        produce(app_settings, [(b"VSCAN", admission), (b"VPOISON", poison)])
        for _ in range(300):
            if await committed(clean_db) >= before + 2:
                break
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=base) as client:
            admin = await bearer(client, "admin")
            body = {"name": "BI warehouse", "role": "integration_read"}
            created = (await client.post("/api/v1/api-keys", json=body, headers=admin)).json()
            letters = (await client.get("/api/v1/dead-letters", headers=admin)).json()["items"]
            site = (await client.get("/api/v1/sites/RAN01", headers=admin)).json()
        answers = await _everything(base, {"X-API-Key": created["key"]})
        answers |= await _board(base, created["key"])
    assert len(letters) == 1  # the poison pill is there to be read,
    assert site["beds"]["RAN01:AMU:B11"]["occupied"]  # and the admission is on the board
    assert sum(text.count("RAN01:AMU:B11") for text in answers.values()) > 0  # and seen by BI
    leaks = {
        where: sorted({i for i in IDENTIFIERS if i in text} | set(nhs_number_shaped(text)))
        for where, text in answers.items()
    }
    assert {where: found for where, found in leaks.items() if found} == {}
    assert "PID|1||***" in letters[0]["redacted"]  # the poison pill, masked
    assert len(answers) >= 25  # every route was read


def test_redaction_keeps_the_shape_and_masks_the_people() -> None:
    message = hl7("A01", 0, bed="B12", visit="VRED")
    shown = redacted(message)
    assert shown.startswith("MSH|^~\\&|PAS|RAN|")  # the sender and the message type stay
    assert "PV1|1|I|AMU^BAY1^B12^RAN01|" in shown  # the location stays
    assert "PID|1||***^^^***^***~***^^^***^***||***^***||***|***" in shown
    nhs = "https://fhir.nhs.uk/Id/nhs-number"
    fhir = json.dumps({"resourceType": "Encounter", "status": "in-progress",
                       "subject": {"identifier": {"system": nhs, "value": "9449305552"},
                                   "display": "Testing"}})  # fmt: skip
    assert json.loads(redacted(fhir.encode())) == {
        "resourceType": "Encounter", "status": "in-progress",
        "subject": {"identifier": {"system": nhs, "value": "***"}, "display": "***"},
    }  # fmt: skip
    assert redacted(b'{"nhs": "9449305552", broken') == '{"***": "***", ***'
    for shown in (redacted(message), redacted(fhir.encode())):
        assert not any(identifier in shown for identifier in IDENTIFIERS), shown

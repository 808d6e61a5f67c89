"""Every kind of HL7 message the simulator sends is a valid ADT message of its declared version
to a second, independent parser: hl7apy with strict validation (the decoder reads with its own
tokenizer and python-hl7; issue #7)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import simpy
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from app.simulation.hl7 import hl7_time
from app.simulation.hospital import Hospital
from app.simulation.messy import MESSY_BY_DEFAULT, Messy
from app.topology.schemas import EconomyConfig
from tests.support.clock import WEDNESDAY, gmt_midnight

PER_KIND = 8  # hl7apy parses ~20 messages a second: a sample of each kind, from each trust


def generated() -> dict[tuple[str, str], list[str]]:
    economy = EconomyConfig.load("deploy/economies/anyborough.yaml")
    orgs = {org.code: org for org in economy.organisations}
    env = simpy.Environment()
    sent: dict[tuple[str, str], list[str]] = defaultdict(list)

    def collect(value: bytes) -> None:
        text = value.decode()
        msh = text.split("\r", 1)[0].split("|")
        sent[(msh[11], msh[8])].append(text)

    # The weekday shapes the seeded arrivals: two days from a Wednesday include every kind.
    for n, site in enumerate(s for s in economy.sites if orgs[s.org].feed == "hl7v2"):
        if site.kind != "acute":
            continue
        Hospital(
            env, site, facility=site.org, version=orgs[site.org].hl7_version or "2.5.1",
            rng=random.Random(n), start=gmt_midnight(weekday=WEDNESDAY),
            send=lambda _key, value, _when, _late: collect(value),
            messy=Messy() if site.org in MESSY_BY_DEFAULT else None,
        ).run(warm=True)  # fmt: skip
    env.run(until=2 * 24 * 60)
    return sent


def test_every_kind_of_generated_message_is_valid_to_hl7apy() -> None:
    sent = generated()
    versions = {version for version, _ in sent}
    triggers = {kind.split("^")[1] for _, kind in sent}
    assert versions == {"2.4", "2.5.1"}
    # The messy trust's A08 snapshots, A20 bed closures, own codes and date-only times too.
    assert {"A01", "A02", "A03", "A04", "A06", "A08", "A11", "A12", "A13", "A14", "A20"} <= triggers
    checked = 0
    for (version, kind), texts in sorted(sent.items()):
        for text in random.Random(1).sample(texts, min(PER_KIND, len(texts))):
            message = parse_message(
                text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
            )
            assert message.validate(), (version, kind)
            assert message.msh.msh_12.to_er7() == version
            assert message.name == kind.split("^")[2]
            checked += 1
    assert checked >= 50


def test_a_warm_start_has_patients_already_in_ed() -> None:
    """make run's economy is alive at once: beds ~93 % full and an ED already working."""
    economy = EconomyConfig.load("deploy/economies/anyborough.yaml")
    site = next(s for s in economy.sites if s.code == "RAN01")
    start = gmt_midnight(weekday=WEDNESDAY) + timedelta(hours=12)
    sent: list[str] = []
    env = simpy.Environment()
    Hospital(
        env, site, facility="RAN", version="2.4", rng=random.Random(5), start=start,
        send=lambda _key, value, _when, _late: sent.append(value.decode()),
    ).run(warm=True)  # fmt: skip
    env.run(until=1)
    arrivals = [m for m in sent if "|ADT^A04^" in m]
    admissions = [m for m in sent if "|ADT^A01^" in m]
    assert len(arrivals) >= 30  # ~3 hours of a 650-bed site's arrivals
    assert all(m.split("\r")[1].split("|")[6] < hl7_time(start) for m in arrivals)  # EVN-6
    assert 0.88 * 650 < len(admissions) < 0.97 * 650

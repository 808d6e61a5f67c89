"""``flowcc locations suggest``: a proposed feeds file (app/occupancy/mapping.py) from the codes
senders used that the bed master does not know. Pure: the summary rows and our units in, YAML
text out. It proposes; an integrator checks each rule (every one carries its evidence) before
saving it as the feeds file, which applies without a restart."""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from dataclasses import dataclass

from app.occupancy.schemas import LocationCodeRead

_NUMBER = re.compile(r"(\d+)\D*$")


@dataclass(frozen=True)
class OurUnit:
    site: str
    code: str
    name: str
    kind: str


def suggest(codes: list[LocationCodeRead], units: list[OurUnit]) -> str:
    """YAML for every sender in ``codes`` (exception summary rows)."""
    by_source: dict[str, list[LocationCodeRead]] = defaultdict(list)
    for row in codes:
        by_source[row.source or "?"].append(row)
    lines = [
        f"# Proposed by `flowcc locations suggest` from {len(codes)} unmapped location codes.",
        "# Check every rule (its evidence is in the comment above it), replace each '?', then",
        "# save as the economy's feeds file: it applies without a restart and places every",
        "# spell held in exception (the rules: app/occupancy/mapping.py).",
        "organisations:",
    ]
    for source, rows in sorted(by_source.items()):
        lines += _sender(source, rows, units)
    return "\n".join(lines) + "\n"


def _sender(source: str, rows: list[LocationCodeRead], units: list[OurUnit]) -> list[str]:
    sites = sorted({s for row in rows for s in row.sites})
    ours = [u for u in units if not sites or u.site in sites]
    wards: dict[str, list[LocationCodeRead]] = defaultdict(list)
    for row in rows:
        wards[row.location_text.split("^")[0]].append(row)
    lines = [
        f"  - source: {json.dumps(source)}",
        f"    site: {json.dumps(sites[0] if len(sites) == 1 else '?')}",
        "    rules:",
    ]
    for ward, seen in sorted(wards.items()):
        beds = [([*row.location_text.split("^"), "", "", ""])[2] for row in seen]
        when, to = _rule(ward, beds, ours)
        messages = sum(row.messages for row in seen)
        held = sum(row.held for row in seen)
        lines += [
            f"      # {ward}: {len(seen)} codes, {messages} messages, {held} held; "
            f"e.g. {seen[0].location_text}",
            f"      - when: {json.dumps(when)}",
            f"        to: {json.dumps(to)}",
        ]
    return lines


def _rule(
    ward: str, beds: list[str], units: list[OurUnit]
) -> tuple[dict[str, str], dict[str, str]]:
    unit = _closest(ward, units)
    to: dict[str, str] = {"ward": unit.code if unit else "?"}
    if unit is not None and unit.kind == "ed":
        return {"ward": ward}, to | {"bay": "{bay}", "bed": "{bed}"}
    numbered = [b for b in beds if _NUMBER.search(b)]
    if beds and len(numbered) == len(beds):
        return {"ward": ward, "bed": r"/(\d+)\D*$/"}, to | {"bed": "B{1:02}"}
    return {"ward": ward}, to | {"bay": "{bay}", "bed": "{bed}"}


def _closest(ward: str, units: list[OurUnit]) -> OurUnit | None:
    by_code = {u.code.upper(): u for u in units}
    if ward.upper() in by_code:
        return by_code[ward.upper()]
    names = {u.name.upper(): u for u in units}
    for candidates in (by_code, names):
        close = difflib.get_close_matches(ward.upper(), list(candidates), n=1, cutoff=0.6)
        if close:
            return candidates[close[0]]
    return None

"""Location mapping per sending organisation (issue #14): a real PAS's PV1-3 (or FHIR Location)
codes — ``ED^UCHED RAT CHAIR^RAT-CHAIR^U``, ``T42E^T42E BY02^BY02-17`` — become our units and beds.
Pure: the rules come from the economy's locations file (loaded into ``location_maps`` and
reloaded on change), the projector applies them to every event it folds, and events keep the
sender's own codes, so a new mapping re-places every spell that was held in exception.

A rule matches components of the sender's location — ``ward`` (PL.1 point of care), ``bay``
(PL.2 room), ``bed`` (PL.3), ``site`` (PL.4 facility) — exactly, or by a regular expression
written between slashes; the first rule that matches writes our location from templates:
``{ward}``/``{bay}``/``{bed}``/``{site}`` are the sender's components and ``{1}``, ``{2}`` … the
groups of the matching expressions numbered in the location's own order — ward, bay, bed, site
(PL.1 to PL.4), whatever order they are written in: a stored mapping (JSONB) keeps no key
order (``{1:02}``: a number, zero-padded).
A location no rule matches passes through (it may already be in our codes); the bed master
then decides.

    organisations:
      - source: UCH               # MSH-4 sending facility (FHIR: meta.source)
        site: UCH01               # our site when PL.4 is empty or is the sender's own code
        rules:
          - when: {ward: ED}
            to: {ward: ED, bay: "{bay}", bed: "{bed}"}
          - when: {ward: "/^T(\\d+)([A-Z])$/", bed: "/^BY(\\d+)-(\\d+)$/"}
            to: {ward: "W{1}{2}", bay: "BAY{3}", bed: "B{4}"}
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.occupancy.events import AdtEvent, Location

COMPONENTS = ("ward", "bay", "bed", "site")
_TEMPLATE = re.compile(r"\{(\w+)(?::(\d+))?\}")


class MappingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, str] = Field(min_length=1)
    to: dict[str, str] = Field(min_length=1)

    @field_validator("when", "to")
    @classmethod
    def _components(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown location components {sorted(unknown)}; use {COMPONENTS}")
        for text in value.values():
            if len(text) > 2 and text[0] == "/" and text[-1] == "/":
                re.compile(text[1:-1])  # an invalid expression is refused at load
        return value

    def apply(self, location: Location) -> Location | None:
        groups: list[str] = []
        for component in COMPONENTS:
            expected = self.when.get(component)
            if expected is None:
                continue
            actual = getattr(location, component)
            if len(expected) > 2 and expected[0] == "/" and expected[-1] == "/":
                match = re.search(expected[1:-1], actual)
                if match is None:
                    return None
                groups += [g or "" for g in match.groups()]
            elif actual != expected:
                return None
        values = {c: getattr(location, c) for c in COMPONENTS} | {
            str(n): g for n, g in enumerate(groups, 1)
        }
        written = {c: _fill(t, values) for c, t in self.to.items()}
        return location.model_copy(update=written)


def _fill(template: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        width = match.group(2)
        return value.zfill(int(width)) if width and value.isdigit() else value

    return _TEMPLATE.sub(one, template)


class SourceMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=120)
    site: str | None = Field(default=None, description="Our site when PL.4 is empty or unknown")
    # MSH-11 values applied; anything else (T training, D debugging, N non-production) is
    # counted in the feed report and dropped.
    processing_ids: list[str] = Field(default_factory=lambda: ["P"])
    rules: list[MappingRule] = Field(default_factory=list)

    def apply(self, location: Location, known_sites: frozenset[str]) -> Location:
        for rule in self.rules:
            mapped = rule.apply(location)
            if mapped is not None:
                location = mapped
                break
        if self.site and location.site not in known_sites:
            location = location.model_copy(update={"site": self.site})
        return location


class LocationMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organisations: list[SourceMapping] = Field(default_factory=list)
    known_sites: frozenset[str] = frozenset()

    @cached_property
    def by_source(self) -> dict[str, SourceMapping]:
        return {mapping.source: mapping for mapping in self.organisations}

    def of(self, source: str) -> SourceMapping | None:
        """A sender's mapping; ``source: "*"`` is every sender without one of its own."""
        return self.by_source.get(source) or self.by_source.get("*")

    def applies(self, event: AdtEvent) -> bool:
        """The feed's processing-id policy (default: production messages only)."""
        mapping = self.of(event.source)
        allowed = mapping.processing_ids if mapping else ["P"]
        return (event.processing_id or "P")[:1] in allowed

    def location(self, source: str, location: Location | None) -> Location | None:
        mapping = self.of(source)
        if location is None or mapping is None:
            return location
        return mapping.apply(location, self.known_sites)

    def event(self, event: AdtEvent) -> AdtEvent:
        """The event with every location in our codes (the stored event keeps the sender's)."""
        if self.of(event.source) is None:
            return event
        places = {
            "location": self.location(event.source, event.location),
            "prior_location": self.location(event.source, event.prior_location),
            "swap_location": self.location(event.source, event.swap_location),
        }
        if all(place is getattr(event, name) for name, place in places.items()):
            return event  # already in our codes (a rule or a default site returns a new one)
        return event.model_copy(update=places)

    @classmethod
    def load(cls, path: str | Path) -> LocationMap:
        document = yaml.safe_load(Path(path).read_text()) or {}
        return cls.model_validate(document)

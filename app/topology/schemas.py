"""The economy YAML (deploy/economies/*.yaml), validated; and read models for the API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

UNIT_KINDS = ("ed", "assessment", "ward", "discharge_lounge")


class UnitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    kind: str = Field(pattern="^(ed|assessment|ward|discharge_lounge)$")
    specialty: str | None = None
    beds: int = Field(default=0, ge=0)
    escalation_beds: int = Field(default=0, ge=0)
    virtual_beds: int = Field(default=0, ge=0)
    bay_size: int = Field(default=6, ge=1)
    areas: dict[str, int] = Field(default_factory=dict, description="ED areas and their spaces")
    # What G&A figures leave out: critical care, maternity, paediatric, mental health units.
    care: str = Field(
        default="general_and_acute",
        pattern="^(general_and_acute|critical_care|maternity|paediatric|mental_health)$",
    )


class SiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    org: str
    name: str
    kind: str
    local_authority: str | None = None
    opel_weight: float = 0.0
    units: list[UnitConfig] = Field(default_factory=list)


class OrganisationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    kind: str
    feed: str | None = None
    hl7_version: str | None = None


class LocalAuthorityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    neighbours: list[str] = Field(default_factory=list)


class CareHomeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    local_authority: str
    provider: str | None = None
    capacity: dict[str, int]


class EconomyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    version: int = 1
    local_authorities: list[LocalAuthorityConfig]
    organisations: list[OrganisationConfig]
    sites: list[SiteConfig]
    care_homes: list[CareHomeConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> EconomyConfig:
        orgs = {org.code for org in self.organisations}
        las = {la.code for la in self.local_authorities}
        for site in self.sites:
            if site.org not in orgs:
                raise ValueError(f"site {site.code}: unknown organisation {site.org}")
            if site.local_authority and site.local_authority not in las:
                raise ValueError(
                    f"site {site.code}: unknown local authority {site.local_authority}"
                )
        for home in self.care_homes:
            if home.local_authority not in las:
                raise ValueError(f"care home {home.code}: unknown LA {home.local_authority}")
        return self

    @classmethod
    def load(cls, path: str | Path) -> EconomyConfig:
        # libyaml's parser when present (a regional economy: ~10x faster than pure Python)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return cls.model_validate(yaml.load(Path(path).read_text(), Loader=loader))


@dataclass(frozen=True)
class BedSpec:
    id: str
    unit_id: str
    site_code: str
    code: str
    bay: str | None
    kind: str
    status: str
    position: int


def bed_specs(site: SiteConfig, unit: UnitConfig) -> list[BedSpec]:
    """Core beds B01.. in bays, escalation beds E01.. (closed until opened), virtual V01.."""
    unit_id = f"{site.code}:{unit.code}"
    specs: list[BedSpec] = []

    def add(code: str, bay: str | None, kind: str, status: str) -> None:
        specs.append(
            BedSpec(f"{unit_id}:{code}", unit_id, site.code, code, bay, kind, status, len(specs))
        )

    for number in range(1, unit.beds + 1):
        add(f"B{number:02d}", f"BAY{(number - 1) // unit.bay_size + 1}", "core", "U")
    for number in range(1, unit.escalation_beds + 1):
        add(f"E{number:02d}", "ESC", "escalation", "C")
    for number in range(1, unit.virtual_beds + 1):
        add(f"V{number:02d}", None, "virtual", "U")
    return specs


class OrganisationOut(BaseModel):
    code: str
    name: str
    kind: str


class SiteOut(BaseModel):
    code: str
    name: str
    kind: str
    org: str
    local_authority: str | None


class LocalAuthorityOut(BaseModel):
    code: str
    name: str
    neighbours: list[str]


class EconomyOut(BaseModel):
    """The economy: every organisation and local authority; the sites this role may see."""

    organisations: list[OrganisationOut]
    sites: list[SiteOut]
    local_authorities: list[LocalAuthorityOut]

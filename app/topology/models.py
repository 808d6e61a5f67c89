"""The economy's structure: local authorities, organisations, sites, units and the bed master."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, Boolean, DateTime, Float, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class LocalAuthority(Base):
    __tablename__ = "local_authorities"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    neighbours: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)


class Organisation(Base):
    __tablename__ = "organisations"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))


class Site(Base):
    __tablename__ = "sites"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    org_code: Mapped[str] = mapped_column(ForeignKey("organisations.code"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    local_authority: Mapped[str | None] = mapped_column(ForeignKey("local_authorities.code"))
    opel_weight: Mapped[float] = mapped_column(Float, default=0.0)
    # False once the economy file no longer has it: kept for history, never counted.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


class Unit(Base):
    """A ward, ED, assessment unit or discharge lounge. ``id`` is ``SITE:UNIT``."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"), index=True)
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    specialty: Mapped[str | None] = mapped_column(String(100))
    spaces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # ED spaces
    # ED areas and their spaces (resus, majors, minors, ...).
    areas: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict, server_default="{}")
    # general_and_acute, or a care G&A figures leave out (domain.md §8).
    care: Mapped[str] = mapped_column(
        String(30), default="general_and_acute", server_default="general_and_acute"
    )


class Bed(Base):
    """One bed (or chair/virtual place) and who is in it now. ``id`` is ``SITE:UNIT:BED``."""

    __tablename__ = "beds"

    id: Mapped[str] = mapped_column(String(90), primary_key=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    site_code: Mapped[str] = mapped_column(String(20), index=True)
    code: Mapped[str] = mapped_column(String(20))
    bay: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))  # core | escalation | virtual
    # HL7 table 0116 vocabulary: U unoccupied-open, C closed, H housekeeping, I isolated,
    # K contaminated. Occupancy itself is occupant_encounter_id.
    status: Mapped[str] = mapped_column(String(1), default="U")
    occupant_encounter_id: Mapped[str | None] = mapped_column(String(120), index=True)
    occupied_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    position: Mapped[int] = mapped_column(Integer, default=0)


class CareHome(Base):
    __tablename__ = "care_homes"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    local_authority: Mapped[str] = mapped_column(ForeignKey("local_authorities.code"), index=True)
    provider: Mapped[str | None] = mapped_column(String(200))


class CareHomeCapacity(Base):
    __tablename__ = "care_home_capacity"

    home_code: Mapped[str] = mapped_column(ForeignKey("care_homes.code"), primary_key=True)
    bed_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)


class EconomyVersion(Base):
    """The digest of the economy configuration last loaded: an unchanged file is not upserted
    again at start (10,000 beds take ~0.5 s)."""

    __tablename__ = "economy_versions"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

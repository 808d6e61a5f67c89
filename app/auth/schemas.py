"""Who is calling: a principal with one role and its scopes (sites or local authorities)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.fields import Code, Text


class Role(StrEnum):
    SITE_MANAGER = "site_manager"
    SOCIAL_CARE = "social_care"
    COMMANDER = "commander"
    INTEGRATION_READ = "integration_read"
    INTEGRATION_INGEST = "integration_ingest"
    ADMIN = "admin"


class Principal(BaseModel):
    subject: str
    name: str
    role: Role
    sites: list[str] = Field(default_factory=list)
    local_authorities: list[str] = Field(default_factory=list)

    @property
    def scoped(self) -> bool:
        """An integration key limited to some sites or local authorities (else: the economy)."""
        integration = self.role in (Role.INTEGRATION_READ, Role.INTEGRATION_INGEST)
        return integration and bool(self.sites or self.local_authorities)

    @property
    def sees_everything(self) -> bool:
        if self.role == Role.INTEGRATION_READ:
            return not self.scoped
        return self.role in (Role.COMMANDER, Role.ADMIN)

    @property
    def site_limited(self) -> bool:
        """Sees people only at its own sites (a site manager; a key scoped to sites)."""
        return self.role == Role.SITE_MANAGER or (self.scoped and bool(self.sites))

    def may_see_site(self, site_code: str) -> bool:
        by_site = self.role in (Role.SITE_MANAGER, Role.INTEGRATION_READ)
        return self.sees_everything or (by_site and site_code in self.sites)

    def may_see_scope(
        self, scope: str, system_scope: str, authorities: Collection[str] = ()
    ) -> bool:
        """A scope of OPEL levels and metric samples: a site, the whole system's, or one of
        the economy's ``authorities`` (a local authority's samples)."""
        if scope in authorities:
            return self.may_see_authority(scope)
        return self.may_see_site(scope) or (scope == system_scope and self.sees_everything)

    def may_see_authority(self, la: str) -> bool:
        """A local authority's discharges and care homes."""
        if self.sees_everything:
            return True
        if self.role == Role.SOCIAL_CARE:
            return la in self.local_authorities
        if self.role == Role.INTEGRATION_READ:  # a key scoped to sites only: its sites' people
            return la in self.local_authorities or not self.local_authorities
        return False

    def may_see_view(self, view: str) -> bool:
        kind, _, scope = view.partition(":")
        if kind == "site":
            return self.may_see_site(scope)
        if kind == "system":
            return self.sees_everything
        if kind in ("discharges", "carehomes"):  # a whole authority's people: not site-limited
            return not self.site_limited and self.may_see_authority(scope)
        return False

    @property
    def may_declare_opel(self) -> bool:
        """Declares a level for a scope it sees (a site manager: its own sites)."""
        return self.role in (Role.COMMANDER, Role.ADMIN, Role.SITE_MANAGER)

    def may_identify(self, site: str | None, la: str | None) -> bool:
        """Sees who a waiting person is: their own social care team, or their site's manager."""
        if self.role == Role.SOCIAL_CARE:
            return la is not None and la in self.local_authorities
        return self.role == Role.SITE_MANAGER and site is not None and site in self.sites

    def may_update_discharge(self, la: str | None) -> bool:
        """Records the discharge hub's progress: the person's social care team, or a commander."""
        if self.role in (Role.COMMANDER, Role.ADMIN):
            return True
        return self.role == Role.SOCIAL_CARE and la is not None and la in self.local_authorities

    def permissions(self) -> Permissions:
        """What the boards may offer this principal (the frontend holds no role rules). One who
        sees everything opens the system board and reaches each site's board from it."""
        boards = ["system"] if self.sees_everything else []
        boards += [f"site:{s}" for s in self.sites if self.may_see_site(s)]
        boards += [f"discharges:{la}" for la in self.local_authorities]
        return Permissions(
            boards=boards,
            declare_opel=self.may_declare_opel,
            identify=self.role in (Role.SOCIAL_CARE, Role.SITE_MANAGER),
            update_discharges=self.role in (Role.SOCIAL_CARE, Role.COMMANDER, Role.ADMIN),
        )

    def landing_view(self) -> str:
        if self.role == Role.SITE_MANAGER and self.sites:
            return f"site:{self.sites[0]}"
        if self.role == Role.SOCIAL_CARE and self.local_authorities:
            return f"discharges:{self.local_authorities[0]}"
        return "system"


class Permissions(BaseModel):
    """The role's rules as the boards need them (the server decides; each call is checked)."""

    boards: list[str] = Field(description="Board views it may open, in menu order")
    declare_opel: bool = Field(description="May declare an OPEL level for the sites it sees")
    identify: bool = Field(description="May ask who a waiting person is (audited), for its own")
    update_discharges: bool = Field(description="May record a discharge's progress, for its own")


class DevLogin(BaseModel):
    username: Text = Field(examples=["sm.anyborough"], min_length=1, max_length=80)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    principal: Principal
    landing_view: str
    permissions: Permissions


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=120, examples=["Anyborough BI warehouse"])
    role: Literal[Role.INTEGRATION_READ, Role.INTEGRATION_INGEST] = Field(
        examples=[Role.INTEGRATION_READ]
    )
    sites: list[Code] = Field(default_factory=list, max_length=50)
    local_authorities: list[Code] = Field(default_factory=list, max_length=50)


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: Role
    sites: list[str]
    local_authorities: list[str]
    prefix: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="Shown once: send it as the X-API-Key header")


# Development users for `make run` (refused outside development, see app/config.py).
DEMO_USERS: dict[str, Principal] = {
    user.subject: user
    for user in (
        Principal(
            subject="sm.anyborough",
            name="Site manager, Anyborough General",
            role=Role.SITE_MANAGER,
            sites=["RAN01"],
        ),
        Principal(
            subject="sm.westvale",
            name="Site manager, Westvale",
            role=Role.SITE_MANAGER,
            sites=["RWV01"],
        ),
        Principal(
            subject="sc.anyborough",
            name="Transfer of care hub, Anyborough Council",
            role=Role.SOCIAL_CARE,
            local_authorities=["E06000901"],
        ),
        Principal(
            subject="commander", name="System commander, Anyborough ICS", role=Role.COMMANDER
        ),
        Principal(subject="bi.reader", name="BI integration", role=Role.INTEGRATION_READ),
        Principal(subject="pas.ingest", name="Ingest integration", role=Role.INTEGRATION_INGEST),
        Principal(subject="admin", name="Administrator", role=Role.ADMIN),
    )
}

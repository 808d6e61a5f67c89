"""The boards' views (issue #19): what a site board, the system board and the REST views show,
typed once; the websocket frames that carry them are in ``app/board/protocol.py``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.catalogue import QueuedAmbulance
from app.escalation.schemas import OpelView
from app.fields import Timestamp
from app.flow.schemas import SiteFlow
from app.occupancy.schemas import BedView, UnitCounts


class SiteRef(BaseModel):
    code: str
    name: str
    kind: str
    local_authority: str | None


class UnitView(BaseModel):
    id: str = Field(description="<site>:<unit code>")
    site: str
    code: str
    name: str
    kind: str
    specialty: str | None
    counts: UnitCounts


class SiteView(BaseModel):
    """The ``site:<code>`` view: its units with bed counts, every bed, and its live metrics."""

    site: SiteRef
    units: list[UnitView]
    beds: dict[str, BedView] = Field(description="By bed id")
    now: Timestamp
    metrics: SiteFlow | None = Field(description="None for a site that is not acute")


class SystemSite(BaseModel):
    code: str
    name: str
    kind: str
    opel_weight: float


class SiteSummary(BaseModel):
    """The few numbers of an acute site the system board shows."""

    site: str
    as_of: Timestamp
    opel_level: int | None
    opel_declared: int | None
    opel_score: float | None
    occupancy_pct: float | None
    free: int
    occupied: int
    escalation_open: int
    ed_in_department: int
    ed_over_12h: int
    four_hour_pct: float | None
    ed_departed_today: int
    dta_waiting: int
    ambulances_waiting: int
    ambulance_queue: list[QueuedAmbulance]
    en_route: int
    handovers_today: int
    hours_lost: float
    nctr: int
    nctr_pct: float | None
    nctr_by_pathway: dict[str, int]
    discharged_today: int


class SystemView(BaseModel):
    """The ``system`` view: every site and unit, each acute site's summary, the system OPEL."""

    sites: list[SystemSite]
    units: list[UnitView]
    now: Timestamp
    summaries: dict[str, SiteSummary] = Field(description="By acute site code")
    system_opel: OpelView | None

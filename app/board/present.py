"""Presentation for the boards: a site's summary from its metrics (the engine publishes a site's
metrics to its own view; the hub adds the summary to the system view here), and what changed in
a site's metrics since the board last had them (the hub sends that, not the whole)."""

from __future__ import annotations

from app.board.schemas import SiteSummary
from app.changes import Delta, JsonObject
from app.flow.schemas import SiteFlow

# The groups of a site's metrics sent as their changed fields: never null (app/catalogue.py), so
# a client always holds the object a patch's fields go into.
PATCHED_GROUPS = frozenset({"beds", "ed", "ambulance", "discharges"})
_ABSENT = object()


def summary(site: str, view: SiteFlow) -> SiteSummary:
    beds, ed, amb, dis, opel = view.beds, view.ed, view.ambulance, view.discharges, view.opel
    return SiteSummary(
        site=site,
        as_of=view.as_of,
        opel_level=opel.computed_level if opel else None,
        opel_declared=opel.declared.level if opel and opel.declared else None,
        opel_score=opel.score if opel else None,
        occupancy_pct=beds.occupancy_pct,
        free=beds.free,
        occupied=beds.occupied,
        escalation_open=beds.escalation_open,
        ed_in_department=ed.in_department,
        ed_over_12h=ed.over_12h,
        four_hour_pct=ed.four_hour_pct,
        ed_departed_today=ed.departed_today,
        dta_waiting=ed.dta_waiting,
        ambulances_waiting=amb.waiting,
        ambulance_queue=amb.queue,
        en_route=amb.en_route,
        handovers_today=amb.handovers_today,
        hours_lost=amb.hours_lost,
        nctr=dis.nctr,
        nctr_pct=dis.nctr_pct,
        nctr_by_pathway=dis.by_pathway,
        discharged_today=dis.discharged_today,
    )


def with_summaries(deltas: list[Delta]) -> list[Delta]:
    """The deltas, each site's metrics followed by its summary for the system board."""
    out: list[Delta] = []
    for delta in deltas:
        out.append(delta)
        if delta.kind == "metrics":
            view = SiteFlow.model_validate(delta.data)
            data = summary(delta.key, view).model_dump(mode="json")
            out.append(Delta("system", "site_summary", delta.key, data))
    return out


def metrics_patch(before: JsonObject, after: JsonObject) -> JsonObject:
    """What changed from ``before`` to ``after`` (a site's SiteFlow as JSON): of each metric group
    the fields whose value changed, any other member whole if it changed, ``as_of`` always.
    Every value is absolute, so a patch applied over a newer state than ``before`` does no harm
    (docs/board-protocol.md)."""
    patch: JsonObject = {"as_of": after["as_of"]}
    for key, value in after.items():
        old = before.get(key, _ABSENT)
        if key in PATCHED_GROUPS and isinstance(old, dict) and isinstance(value, dict):
            fields = {k: v for k, v in value.items() if old.get(k, _ABSENT) != v}
            if fields:
                patch[key] = fields
        elif old != value:
            patch[key] = value
    return patch


def merged_patches(first: JsonObject, second: JsonObject) -> JsonObject:
    """One patch that does what ``first`` then ``second`` do."""
    out = dict(first)
    for key, value in second.items():
        old = out.get(key)
        grouped = key in PATCHED_GROUPS and isinstance(old, dict) and isinstance(value, dict)
        out[key] = {**old, **value} if grouped else value  # type: ignore[dict-item]
    return out

"""The websocket board protocol's frames and client messages, typed (docs/board-protocol.md).

Every frame the server sends and every message a client may send is one model here; their JSON
Schema is published in the OpenAPI document's components (``BoardFrame``, ``ClientMessage``)
and in ``docs/board-protocol.schema.json``, and the frontend's types are generated from it.
A delta's change is discriminated by its ``kind``, which fixes the shape of its ``data``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.json_schema import JsonSchemaMode

from app.auth.schemas import Permissions, Principal
from app.board.schemas import SiteSummary, SiteView, SystemView
from app.carehomes.schemas import CareHomesView
from app.catalogue import AmbulanceMetrics, BedsMetrics, DischargeMetrics, EdMetrics
from app.discharge.schemas import DischargesView
from app.escalation.schemas import OpelView
from app.fields import Timestamp
from app.flow.schemas import SiteFlow
from app.occupancy.schemas import BedView, UnitCounts

ViewName = Annotated[
    str, Field(pattern=r"^(system|(site|discharges|carehomes):[A-Za-z0-9_.-]{1,40})$")
]


class _Change(BaseModel):
    key: str


class UnitChange(_Change):
    kind: Literal["unit"]
    data: UnitCounts


class BedChange(_Change):
    kind: Literal["bed"]
    data: BedView


class MetricsChange(_Change):
    kind: Literal["metrics"]
    data: SiteFlow


def _changed_fields(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with every field optional: a patch holds only the fields that changed."""
    fields: dict[str, Any] = {
        name: (info.annotation, Field(None, description=info.description))
        for name, info in model.model_fields.items()
    }
    return create_model(f"{model.__name__}Changes", __config__=ConfigDict(extra="forbid"), **fields)


if TYPE_CHECKING:  # the same fields, every one optional (built from the catalogue below)
    BedsChanges = BedsMetrics
    EdChanges = EdMetrics
    AmbulanceChanges = AmbulanceMetrics
    DischargeChanges = DischargeMetrics
else:
    BedsChanges = _changed_fields(BedsMetrics)
    EdChanges = _changed_fields(EdMetrics)
    AmbulanceChanges = _changed_fields(AmbulanceMetrics)
    DischargeChanges = _changed_fields(DischargeMetrics)


class SiteFlowPatch(BaseModel):
    """What changed in a site's metrics since the view's previous ``metrics`` or
    ``metrics_patch``: of each group only the fields that changed (each replacing the client's
    value of that field), ``opel`` whole if it changed; a member left out did not change."""

    model_config = ConfigDict(extra="forbid")
    as_of: Timestamp
    beds: BedsChanges | None = None
    ed: EdChanges | None = None
    ambulance: AmbulanceChanges | None = None
    discharges: DischargeChanges | None = None
    opel: OpelView | None = Field(None, description="Whole, if it changed (null: no OPEL)")


class MetricsPatchChange(_Change):
    kind: Literal["metrics_patch"]
    data: SiteFlowPatch


class SiteSummaryChange(_Change):
    kind: Literal["site_summary"]
    data: SiteSummary


class SystemOpelChange(_Change):
    kind: Literal["system_opel"]
    data: OpelView


class DischargesChange(_Change):
    kind: Literal["discharges"]
    data: DischargesView = Field(description="The whole view: replaces what the client holds")


class CareHomesChange(_Change):
    kind: Literal["carehomes"]
    data: CareHomesView = Field(description="The whole view: replaces what the client holds")


Change = Annotated[
    UnitChange | BedChange | MetricsChange | MetricsPatchChange | SiteSummaryChange
    | SystemOpelChange
    | DischargesChange | CareHomesChange,
    Field(discriminator="kind"),
]  # fmt: skip


class ReadyFrame(BaseModel):
    """Authenticated: who the client is, what it may open, and where it lands."""

    type: Literal["ready"]
    principal: Principal
    permissions: Permissions
    landing_view: str


class SnapshotFrame(BaseModel):
    """A whole view, holding every delta up to ``seq`` (later ones follow as delta frames)."""

    type: Literal["snapshot"]
    view: str
    seq: int
    data: SiteView | SystemView | DischargesView | CareHomesView
    at: float = Field(description="Server time it was built (seconds since the epoch)")


class DeltaFrame(BaseModel):
    """What changed in a view since the previous ``seq`` (absolute values: idempotent)."""

    type: Literal["delta"]
    view: str
    seq: int
    t: float = Field(description="Server time it was sent (seconds since the epoch)")
    changes: list[Change]


class ResyncFrame(BaseModel):
    """The client fell behind (or the economy changed): subscribe to these views again."""

    type: Literal["resync"]
    views: list[str]


class PingFrame(BaseModel):
    type: Literal["ping"]
    t: float | None = None


class PongFrame(BaseModel):
    type: Literal["pong"]
    t: float | None = None


class ErrorFrame(BaseModel):
    """A refused message or subscription; ``unauthorized`` ends the connection (code 4401)."""

    type: Literal["error"]
    code: str
    message: str
    view: str | None = None


BoardFrame = Annotated[
    ReadyFrame | SnapshotFrame | DeltaFrame | ResyncFrame | PingFrame | PongFrame | ErrorFrame,
    Field(discriminator="type"),
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthMessage(_Message):
    """First, within 10 s: a bearer token or an API key."""

    type: Literal["auth"]
    token: str = Field(max_length=8192)


class SubscribeMessage(_Message):
    """Register for a view: a snapshot, then its deltas. ``resync`` asks for a new snapshot."""

    type: Literal["subscribe", "resync"]
    view: ViewName


class UnsubscribeMessage(_Message):
    type: Literal["unsubscribe"]
    view: ViewName


class HeartbeatMessage(_Message):
    type: Literal["ping", "pong"]
    t: float | None = None


ClientMessage = Annotated[
    AuthMessage | SubscribeMessage | UnsubscribeMessage | HeartbeatMessage,
    Field(discriminator="type"),
]
FRAMES: TypeAdapter[BoardFrame] = TypeAdapter(BoardFrame)
MESSAGES: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# What the server sends, as it serializes it; what a client sends, as the server validates it.
_SCHEMAS: tuple[tuple[str, TypeAdapter[Any], JsonSchemaMode], ...] = (
    ("BoardFrame", FRAMES, "serialization"),
    ("ClientMessage", MESSAGES, "validation"),
)


def install_schema(app: FastAPI) -> None:
    """Publish the protocol's shapes in the app's OpenAPI components (``BoardFrame``,
    ``ClientMessage`` and every model they use), where the frontend's types come from."""
    default = app.openapi

    def openapi() -> dict[str, Any]:  # FastAPI's own type for the OpenAPI document
        if app.openapi_schema is None:
            schemas = default().setdefault("components", {}).setdefault("schemas", {})
            for name, adapter, mode in _SCHEMAS:
                found = adapter.json_schema(ref_template="#/components/schemas/{model}", mode=mode)
                for model, shape in found.pop("$defs", {}).items():
                    schemas.setdefault(model, shape)
                schemas[name] = found
        return app.openapi_schema or default()

    app.openapi = openapi  # type: ignore[method-assign]


def json_schema() -> dict[str, object]:
    """The protocol's JSON Schema: every server frame and client message, with their shapes."""
    frames = FRAMES.json_schema(ref_template="#/$defs/{model}", mode="serialization")
    messages = MESSAGES.json_schema(ref_template="#/$defs/{model}")
    defs = {**frames.pop("$defs", {}), **messages.pop("$defs", {})}
    defs["BoardFrame"], defs["ClientMessage"] = frames, messages
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Flow Command Centre board protocol (/ws)",
        "$defs": defs,
    }

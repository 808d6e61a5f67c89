"""The flow engine as a FastAPI dependency (beside the engine, so app.deps stays below every
domain: issue #19)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.flow.engine import FlowEngine


def get_flow(request: Request) -> FlowEngine:
    flow: FlowEngine = request.app.state.flow
    return flow


FlowDep = Annotated[FlowEngine, Depends(get_flow)]

"""The evaluator as a FastAPI dependency (beside it, so app.deps stays below every
domain: issue #19)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.flow.evaluator import Evaluator


def get_flow(request: Request) -> Evaluator:
    flow: Evaluator = request.app.state.flow
    return flow


FlowDep = Annotated[Evaluator, Depends(get_flow)]

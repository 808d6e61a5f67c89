"""The running engine as the escalation routes see it: the runtime and the OPEL profile in use."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from app.deps import Runtime
from app.escalation.profile import OpelProfile


class EscalationRuntime(Runtime, Protocol):
    @property
    def profile(self) -> OpelProfile: ...


def get_escalation_runtime(request: Request) -> EscalationRuntime:
    runtime: EscalationRuntime = request.app.state.flow
    return runtime


EscalationRuntimeDep = Annotated[EscalationRuntime, Depends(get_escalation_runtime)]

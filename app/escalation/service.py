"""Apply assessments to the stored OPEL state (hysteresis, history) and record declarations.

Services never commit: the caller's transaction holds the change and its history row together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm.attributes import flag_modified

from app.errors import NotFound
from app.escalation.models import OpelHistory, OpelState
from app.escalation.profile import OpelProfile
from app.escalation.repository import EscalationRepository
from app.escalation.schemas import DeclaredOut, OpelView, ReadingOut
from app.escalation.scoring import Assessment, LevelState, step


def apply_assessment(
    repo: EscalationRepository,
    states: dict[str, OpelState],
    profile: OpelProfile,
    scope: str,
    assessment: Assessment,
    now: datetime,
) -> tuple[bool, datetime | None]:
    """Store the latest assessment in the scope's state (``states``: every scope's, read
    locked in this transaction; a new scope's is added). Returns whether the computed level
    changed, and when a pending drop would take effect if nothing else changes
    (hysteresis)."""
    state = states.get(scope)
    if state is None:
        state = states[scope] = OpelState(scope=scope, readings=[])
        repo.add(state)
    moved = step(
        profile, LevelState(state.computed_level, state.below_since), assessment.level, now
    )
    readings = [reading.as_dict() for reading in assessment.readings]
    state.raw_level, state.score, state.readings = assessment.level, assessment.score, readings
    state.below_since, state.computed_at = moved.state.below_since, now
    # Written whether or not they changed: the scopes of an evaluation then share one UPDATE's
    # columns, sent as one executemany (a site's readings moving, the system's not, were two).
    flag_modified(state, "readings")
    if moved.changed:
        state.computed_level = moved.state.level
        repo.add(
            OpelHistory(
                scope=scope,
                kind="computed",
                level=moved.state.level,
                previous_level=moved.previous,
                score=assessment.score,
                readings=readings,
                reason=_reason(moved.why, assessment),
                at=now,
            )
        )
    below = moved.state.below_since
    return moved.changed, below + timedelta(minutes=profile.drop_after_minutes) if below else None


def _reason(why: str, assessment: Assessment) -> str:
    drivers = ", ".join(assessment.drivers)
    return f"{why}; driven by {drivers}" if drivers else why


async def declare(
    repo: EscalationRepository, scope: str, level: int, reason: str, actor: str, now: datetime
) -> OpelState:
    """A person declares the level (it may differ from the computed one); kept with who/why."""
    state = await repo.state(scope, lock=True)
    if state is None:
        raise NotFound(f"no OPEL state for {scope} yet (the engine has not assessed it)")
    repo.add(
        OpelHistory(
            scope=scope,
            kind="declared",
            level=level,
            previous_level=state.declared_level,
            score=state.score,
            readings=state.readings,
            actor=actor,
            reason=reason,
            at=now,
        )
    )
    state.declared_level, state.declared_reason = level, reason
    state.declared_by, state.declared_at = actor, now
    return state


def opel_view(state: OpelState | None) -> OpelView | None:
    if state is None:
        return None
    readings = [ReadingOut.model_validate(reading) for reading in state.readings]
    return OpelView(
        scope=state.scope,
        computed_level=state.computed_level,
        raw_level=state.raw_level,
        score=state.score,
        below_since=_iso(state.below_since),
        computed_at=_iso(state.computed_at),
        readings=readings,
        drivers=_drivers(readings),
        declared=None
        if state.declared_level is None
        else DeclaredOut(
            level=state.declared_level,
            by=state.declared_by,
            reason=state.declared_reason,
            at=_iso(state.declared_at),
        ),
    )


def _drivers(readings: list[ReadingOut]) -> list[str]:
    levels = [r.level for r in readings if r.level is not None]
    if not levels or max(levels) == 1:
        return []
    return [r.id for r in readings if r.level == max(levels)]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

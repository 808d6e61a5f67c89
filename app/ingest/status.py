"""What /readyz reports about the consumers of this process, and the restart alert.

A runner that fails (the database or the broker unreachable, the poll thread lost) is replaced
after a pause, from the offsets stored with the state. A failure that repeats at the same
offsets is a stuck partition: it is counted in ``flowcc_ingest_consumer_stuck_restarts`` (alert
on > 2) and named on /readyz, so nobody has to read logs to see ingestion has stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter, Gauge

RESTARTS = Counter("flowcc_ingest_consumer_restarts_total", "Consumer runners that failed")
STUCK = Gauge(
    "flowcc_ingest_consumer_stuck_restarts",
    "Consecutive runner failures at the same stored offsets (alert when > 2)",
)
STUCK_AFTER = 3


class Runner(Protocol):
    @property
    def consuming(self) -> bool: ...

    @property
    def failing_at(self) -> dict[tuple[str, int], int]: ...


@dataclass
class ConsumerStatus:
    runner: Runner | None = None
    last_error: str | None = None
    restarts_in_a_row: int = 0
    failing_at: dict[tuple[str, int], int] = field(default_factory=dict)

    def started(self, runner: Runner) -> None:
        self.runner, self.last_error = runner, None

    def failed(self, runner: Runner | None, error: BaseException) -> None:
        """A runner ended with ``error``; the same offsets as last time make it a repeat."""
        at = dict(runner.failing_at) if runner is not None else {}
        self.restarts_in_a_row = self.restarts_in_a_row + 1 if at == self.failing_at else 1
        self.failing_at = at
        self.runner, self.last_error = None, f"{type(error).__name__}: {error}"[:300]
        RESTARTS.inc()
        STUCK.set(self.restarts_in_a_row if at else 0)

    def recovered(self) -> None:
        """A batch was applied: whatever failed before is behind us."""
        if self.restarts_in_a_row:
            self.restarts_in_a_row, self.failing_at = 0, {}
            STUCK.set(0)

    def check(self) -> tuple[bool, str]:
        if self.runner is not None and self.runner.consuming:
            return True, "partitions assigned"
        if self.restarts_in_a_row >= STUCK_AFTER and self.failing_at:
            where = ", ".join(f"{t}/{p}@{o}" for (t, p), o in sorted(self.failing_at.items()))
            return False, (
                f"stuck: {self.restarts_in_a_row} restarts in a row at {where}: {self.last_error}"
            )
        if self.last_error:
            return False, f"consumers restarting: {self.last_error}"
        return False, "consumers starting (no partitions assigned yet)"

"""`status`: what the database holds, what needs attention, and how the jobs last ran."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokensync.jobs.options import PollOptions, RefreshOptions
from tokensync.store import Store
from tokensync.store.models import Erring, Expiring, RunRecord, StatusCount

JOB_COMMANDS = (RefreshOptions.command, PollOptions.command)


@dataclass(frozen=True)
class StatusReport:
    """Everything `status` shows, read from the store."""

    engine: str
    schema_version: int
    counts: Sequence[StatusCount]
    soonest: Sequence[Expiring]
    needs_reauth: Sequence[Erring]
    failing_count: int
    failing: Sequence[Erring]
    last_runs: Sequence[RunRecord]

    def by_status(self) -> dict[str, int]:
        """Connections counted by status, over every platform."""
        totals: dict[str, int] = {}
        for c in self.counts:
            totals[c.status] = totals.get(c.status, 0) + c.count
        return totals

    def by_platform(self) -> dict[str, dict[str, int]]:
        """Connections counted by platform, then status."""
        table: dict[str, dict[str, int]] = {}
        for c in self.counts:
            table.setdefault(c.platform, {})[c.status] = c.count
        return table


def read_status(store: Store, *, limit: int = 20) -> StatusReport:
    """Counts by platform and status, soonest expiries, connections needing attention, last runs."""
    failing_count, failing = store.failing(limit)
    return StatusReport(
        engine=store.engine,
        schema_version=store.schema_version(),
        counts=store.status_counts(),
        soonest=store.soonest_expiries(5),
        needs_reauth=store.needs_reauth(limit),
        failing_count=failing_count,
        failing=failing,
        last_runs=store.last_runs(JOB_COMMANDS),
    )

"""`status`: what the database holds, what needs attention, and how the jobs last ran."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tokensync.errors import EXIT_OK
from tokensync.events.webhook import url_key
from tokensync.platforms.catalog import credential_variables
from tokensync.runtime.job_kinds import JOB_KINDS
from tokensync.runtime.skew import ClockSkew, clock_skew
from tokensync.settings import Settings
from tokensync.store import Store
from tokensync.store.models import (
    Endpoint,
    Erring,
    EventCounts,
    Expiring,
    RunRecord,
    StatusCount,
    StoredEvent,
)

JOB_COMMANDS = tuple(kind.command for kind in JOB_KINDS)


@dataclass(frozen=True)
class Problem:
    """Configuration that will make the jobs fail, found by `status` before they run."""

    code: str
    platform: str
    message: str


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
    # Grants (refresh tokens with a known end) ending within expiring_within, soonest first.
    expiring_within: float
    grants_ending_count: int
    grants_ending: Sequence[Expiring]
    events: EventCounts
    dead_events: Sequence[StoredEvent]
    webhook_configured: bool
    endpoint: Endpoint | None  # what deliveries taught of the configured webhook_url
    clock_skew: ClockSkew | None = None  # None: the database shares this host's clock
    # The change feed's oldest position still readable (`data changes --after`); 0-0: all.
    oldest_position: str = "0-0"
    problems: Sequence[Problem] = ()

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

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


def read_status(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    limit: int = 20,
    clock: Callable[[], datetime] | None = None,
) -> StatusReport:
    """Counts by platform and status, soonest expiries, connections needing attention, grants
    ending soon, last runs, the events and their webhook, and (with `clock`, this host's) how
    far this host's clock is from the database's."""
    skew = clock_skew(store, clock, settings.clock_skew_warning) if clock else None
    failing_count, failing = store.failing(limit)
    ends_before = now + timedelta(seconds=settings.expiring_within)
    grants_count, grants = store.grant_ends(ends_before, limit)
    url = settings.webhook_url
    counts = store.status_counts()
    return StatusReport(
        engine=store.engine,
        schema_version=store.schema_version(),
        counts=counts,
        soonest=store.soonest_expiries(5),
        needs_reauth=store.needs_reauth(limit),
        failing_count=failing_count,
        failing=failing,
        last_runs=store.last_runs(JOB_COMMANDS),
        expiring_within=settings.expiring_within,
        grants_ending_count=grants_count,
        grants_ending=grants,
        events=store.event_counts(),
        dead_events=store.dead_events(5),
        webhook_configured=url is not None,
        endpoint=store.endpoint(url_key(url)) if url is not None else None,
        clock_skew=skew,
        oldest_position=store.oldest_position(),
        problems=configuration_problems(settings, counts),
    )


def configuration_problems(settings: Settings, counts: Sequence[StatusCount]) -> list[Problem]:
    """The platforms whose active connections the jobs will fail: not configured at all, or
    without client credentials (a bad setting of any other kind stops `status` itself)."""
    problems = []
    active = sorted({c.platform for c in counts if c.status == "active" and c.count})
    for name in active:
        platform = settings.platforms.get(name)
        if platform is None:
            message = f"{name} has active connections but no [platforms.{name}] section"
            problems.append(Problem("unknown_platform", name, message))
        elif not platform.has_credentials:
            message = (
                f"{name} has active connections but no client credentials: set "
                f"{credential_variables(name)}"
            )
            problems.append(Problem("missing_client_credentials", name, message))
    return problems

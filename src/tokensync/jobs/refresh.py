"""The refresh-tokens run: apply the spool, then claim due connections in batches and refresh them.

A producer claims a batch under this run's lease while workers refresh the previous one, so the
requests in flight stay near --concurrency and memory stays flat however many tokens are due.
Each outcome writes back and ends its lease in one statement; what the run claimed but did not
touch is released at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from tokensync.crypto import Keyring
from tokensync.errors import StorageError
from tokensync.jobs.pipeline import claim_and_process
from tokensync.jobs.refresher import (
    FAILED,
    NEEDS_REAUTH,
    REFRESHED,
    Outcome,
    Refresher,
    apply_spool,
)
from tokensync.jobs.runtime import AsyncStore, Clock, StopSignal, utc_now
from tokensync.settings import Settings
from tokensync.spool import Spool
from tokensync.store import Connection, Filters

KEEP = ("all", "failures", "none")


@dataclass(frozen=True)
class RefreshOptions:
    """What the operator asked of this run."""

    filters: Filters = field(default_factory=Filters)
    window: float = 600.0
    dry_run: bool = False
    concurrency: int = 64
    max_duration: float | None = None
    keep: str = "all"


@dataclass
class RefreshResult:
    """What the run did: counts always, outcomes as --results asked."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    checked: int = 0
    refreshed: int = 0
    failed: int = 0
    needs_reauth: int = 0
    spool_applied: int = 0
    leases_lost: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    due: list[Connection] = field(default_factory=list)
    stopped: str | None = None
    error: StorageError | None = None

    @property
    def success(self) -> bool:
        """True when nothing failed."""
        return self.failed == 0 and self.error is None


async def run_refresh(
    db: AsyncStore,
    client: httpx.AsyncClient,
    keyring: Keyring | None,
    settings: Settings,
    spool: Spool,
    options: RefreshOptions,
    *,
    run_id: str,
    clock: Clock = utc_now,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> RefreshResult:
    """One refresh-tokens run."""
    result = RefreshResult(run_id=run_id, started_at=clock(), dry_run=options.dry_run)
    stop = StopSignal(clock, options.max_duration)
    with stop.on_signals():
        if options.dry_run:
            await _dry_run(db, settings, options, result, clock)
        else:
            assert keyring is not None, "a real run needs the keyring"
            result.spool_applied = await apply_spool(db, spool, clock)
            refresher = Refresher(
                db, client, keyring, settings, spool, owner=run_id, clock=clock, stop=stop
            )
            await _claim_and_refresh(
                db, refresher, settings, options, stop, result, clock, on_outcome
            )
            result.error = result.error or refresher.storage_error
            result.leases_lost = refresher.leases_lost
    result.stopped = stop.reason
    result.finished_at = clock()
    return result


async def _claim_and_refresh(
    db: AsyncStore,
    refresher: Refresher,
    settings: Settings,
    options: RefreshOptions,
    stop: StopSignal,
    result: RefreshResult,
    clock: Clock,
    on_outcome: Callable[[Outcome], None] | None,
) -> None:
    async def claim() -> list[Connection]:
        if refresher.storage_error is not None:
            return []
        now = clock()
        return await db.call(
            db.store.claim_due_refreshes,
            result.run_id,
            now=now,
            lease_until=now + timedelta(seconds=settings.lease_seconds),
            due_before=now + timedelta(seconds=options.window),
            stale_before=now - timedelta(seconds=settings.refresh_stale_after),
            limit=settings.batch_size,
            filters=options.filters,
            run_started=result.started_at,
        )

    async def renew(ids: Sequence[int]) -> set[int]:
        now = clock()
        return await db.call(
            db.store.renew_leases,
            ids,
            result.run_id,
            now=now,
            lease_until=now + timedelta(seconds=settings.lease_seconds),
        )

    async def process(conn: Connection) -> bool:
        outcome = await refresher.refresh(conn)
        if outcome is None:
            return False  # nothing sent: still leased (released at the end) or another run's
        _count(result, outcome, options.keep)
        if on_outcome:
            on_outcome(outcome)
        # Storing tokens, marking a dead grant and backing off each end the lease themselves.
        return not outcome.spooled and (
            outcome.kind in (REFRESHED, NEEDS_REAUTH) or outcome.next_attempt_at is not None
        )

    held, result.error = await claim_and_process(
        claim,
        process,
        concurrency=options.concurrency,
        queue_size=settings.batch_size,
        stop=stop,
        renew=renew,
        renew_every=settings.lease_seconds / 3,
    )
    if held and refresher.storage_error is None and result.error is None:
        try:
            await db.call(db.store.release, sorted(held), result.run_id)
        except StorageError as exc:
            result.error = exc


def _count(result: RefreshResult, outcome: Outcome, keep: str) -> None:
    result.checked += 1
    if outcome.kind == REFRESHED:
        result.refreshed += 1
    elif outcome.kind == NEEDS_REAUTH:
        result.needs_reauth += 1
        result.failed += 1
    elif outcome.kind == FAILED:
        result.failed += 1
    if keep == "all" or (keep == "failures" and not outcome.success):
        result.outcomes.append(outcome)


async def _dry_run(
    db: AsyncStore,
    settings: Settings,
    options: RefreshOptions,
    result: RefreshResult,
    clock: Clock,
) -> None:
    now, after = clock(), 0
    while True:
        page = await db.call(
            db.store.find_due_refreshes,
            now=now,
            due_before=now + timedelta(seconds=options.window),
            stale_before=now - timedelta(seconds=settings.refresh_stale_after),
            after_id=after,
            limit=settings.batch_size,
            filters=options.filters,
        )
        result.checked += len(page)
        if options.keep == "all":
            result.due.extend(page)
        if len(page) < settings.batch_size:
            return
        after = page[-1].id

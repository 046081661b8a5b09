"""The refresh-tokens run: apply the spool, then claim due connections in batches and refresh them.

A producer claims a batch under this run's lease while workers refresh the previous one, so the
requests in flight stay near --concurrency and memory stays flat however many tokens are due.
Each outcome writes back and ends its lease in one statement; what the run claimed but did not
touch is released at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tokensync.jobs.frame import due_pages, run_framed
from tokensync.jobs.options import RefreshOptions
from tokensync.jobs.results import RefreshResult
from tokensync.jobs.skipped import explain_skips
from tokensync.refresh.outcome import Refreshed
from tokensync.refresh.refresher import Refresher
from tokensync.runtime.claim_loop import claim_and_process
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.settings import Settings
from tokensync.store import Connection

# --force: every bound of the due condition moved past any date a row can hold, so that the same
# claim (and its index ranges) takes every selected row the run has not refreshed yet.
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class _Due:
    """The bounds of what is due now: expiring before, renewed before, backing off until."""

    due_before: datetime
    stale_before: datetime
    retry_before: datetime

    @classmethod
    def at(cls, now: datetime, options: RefreshOptions, settings: Settings) -> _Due:
        if options.force:
            return cls(_END_OF_TIME, _END_OF_TIME, _END_OF_TIME)
        return cls(
            now + timedelta(seconds=options.window),
            now - timedelta(seconds=settings.refresh_stale_after),
            now,
        )


async def run_refresh(deps: Deps, options: RefreshOptions) -> RefreshResult:
    """One refresh-tokens run."""
    result = RefreshResult(
        run_id=deps.owner,
        started_at=deps.clock.now(),
        dry_run=options.dry_run,
        fail_on=options.fail_on,
        keep=options.keep,
    )
    if options.filters.users:
        result.acted_on = set()

    async def work(refresher: Refresher, stop: StopSignal) -> None:
        await _claim_and_refresh(deps, refresher, options, stop, result)
        result.leases_lost = refresher.leases_lost

    await run_framed(
        deps, options, result, work=work, dry_run=lambda: _dry_run(deps, options, result)
    )
    if result.acted_on is not None and result.error is None:
        result.skipped = await explain_skips(deps, options, result)
    return result


async def _claim_and_refresh(
    deps: Deps,
    refresher: Refresher,
    options: RefreshOptions,
    stop: StopSignal,
    result: RefreshResult,
) -> None:
    db, clock, settings = deps.db, deps.clock, deps.settings
    lease = timedelta(seconds=settings.lease_seconds)

    async def claim() -> list[Connection]:
        if refresher.storage_error is not None:
            return []
        now = clock.now()
        due = _Due.at(now, options, settings)
        return await db.call(
            db.store.claim_due_refreshes,
            result.run_id,
            now=now,
            lease_until=now + lease,
            due_before=due.due_before,
            stale_before=due.stale_before,
            limit=settings.batch_size,
            filters=options.filters,
            run_started=result.started_at,
            retry_before=due.retry_before,
        )

    async def renew(ids: Sequence[int]) -> set[int]:
        now = clock.now()
        return await db.call(
            db.store.renew_leases, ids, result.run_id, now=now, lease_until=now + lease
        )

    async def process(conn: Connection) -> bool:
        outcome = await refresher.refresh(conn)
        if outcome is None:
            return False  # nothing sent: still leased (released at the end) or another run's
        result.count(outcome, options.keeps(outcome.success))
        deps.progress(outcome)
        # Storing tokens, marking a dead grant and backing off each end the lease themselves.
        return not outcome.spooled and (
            outcome.kind in (Refreshed.REFRESHED, Refreshed.NEEDS_REAUTH)
            or outcome.next_attempt_at is not None
        )

    async def release(ids: list[int]) -> None:
        if refresher.storage_error is None:  # a lost database: the leases lapse by themselves
            await db.call(db.store.release, ids, result.run_id)

    # --concurrency counts requests in flight. A row also spends time being stored, which holds
    # no request: half as many workers again keep the requests in flight at the cap meanwhile.
    refresher.requests = asyncio.Semaphore(options.concurrency)
    result.error = await claim_and_process(
        claim,
        process,
        release,
        concurrency=options.concurrency + options.concurrency // 2,
        queue_size=settings.batch_size,
        stop=stop,
        clock=clock,
        renew=renew,
        renew_every=settings.lease_seconds / 3,
    )


async def _dry_run(deps: Deps, options: RefreshOptions, result: RefreshResult) -> None:
    db, settings, now = deps.db, deps.settings, deps.clock.now()
    due = _Due.at(now, options, settings)

    async def find(after_id: int) -> list[Connection]:
        return await db.call(
            db.store.find_due_refreshes,
            now=now,
            due_before=due.due_before,
            stale_before=due.stale_before,
            after_id=after_id,
            limit=settings.batch_size,
            filters=options.filters,
            retry_before=due.retry_before,
        )

    async for page in due_pages(find, settings.batch_size):
        result.checked += len(page)
        result.acted(c.id for c in page)
        if options.keep == "all":
            result.due.extend(page)

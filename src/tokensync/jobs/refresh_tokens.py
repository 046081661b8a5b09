"""The refresh-tokens run: apply the spool, then claim due connections in batches and refresh them.

A producer claims a batch under this run's lease while workers refresh the previous one, so the
requests in flight stay near --concurrency and memory stays flat however many tokens are due.
Each outcome writes back and ends its lease in one statement; what the run claimed but did not
touch is released at the end.
"""

from __future__ import annotations

import functools
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
from tokensync.runtime.limits import Slots
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
    await run_framed(deps, options, result, _RefreshWork(deps, options, result))
    if result.acted_on is not None and result.error is None:
        result.skipped = await explain_skips(deps, options, result)
    return result


@dataclass(frozen=True)
class _RefreshWork:
    """refresh-tokens inside the frame (jobs/frame.py): the claim loop over due rows, or a dry
    run's pages of them."""

    deps: Deps
    options: RefreshOptions
    result: RefreshResult

    async def work(self, refresher: Refresher, stop: StopSignal) -> None:
        """Claim due rows in batches and refresh them, --concurrency requests in flight."""
        options, settings = self.options, self.deps.settings
        # --concurrency counts requests in flight. A row also spends time being stored, which
        # holds no request: half as many workers again keep the requests at the cap meanwhile.
        refresher.requests = Slots(options.concurrency)
        due = _DueRefreshes(self.deps, refresher, options, self.result)
        self.result.error = await claim_and_process(
            due,
            concurrency=options.concurrency + options.concurrency // 2,
            queue_size=settings.batch_size,
            stop=stop,
            clock=self.deps.clock,
            renewal=due,
        )
        self.result.leases_lost = refresher.leases_lost

    async def dry_run(self) -> None:
        """Count (and with --results all, list) the rows due now, a page at a time."""
        # One `now` for every page: the rows due when the dry run began.
        find = functools.partial(self._find, self.deps.clock.now())
        async for page in due_pages(find, self.deps.settings.batch_size):
            self.result.checked += len(page)
            self.result.acted(c.id for c in page)
            if self.options.keep == "all":
                self.result.due.extend(page)

    async def _find(self, now: datetime, after_id: int) -> list[Connection]:
        db, settings = self.deps.db, self.deps.settings
        due = _Due.at(now, self.options, settings)
        return await db.call(
            db.store.find_due_refreshes,
            now=now,
            due_before=due.due_before,
            stale_before=due.stale_before,
            after_id=after_id,
            limit=settings.batch_size,
            filters=self.options.filters,
            retry_before=due.retry_before,
        )


class _DueRefreshes:
    """The claim loop's batches and lease renewal for refresh-tokens (runtime/claim_loop.py): due
    rows leased to this run, each refreshed once, the leases of those waiting renewed."""

    def __init__(
        self, deps: Deps, refresher: Refresher, options: RefreshOptions, result: RefreshResult
    ) -> None:
        self.deps, self.refresher, self.options, self.result = deps, refresher, options, result
        self.lease = timedelta(seconds=deps.settings.lease_seconds)
        self.every = deps.settings.lease_seconds / 3  # renewals: a third of a lease apart

    async def claim(self) -> list[Connection]:
        """The next batch of due rows, leased to this run (none once the database is lost)."""
        if self.refresher.storage_error is not None:
            return []
        db, settings, now = self.deps.db, self.deps.settings, self.deps.clock.now()
        due = _Due.at(now, self.options, settings)
        return await db.call(
            db.store.claim_due_refreshes,
            self.result.run_id,
            now=now,
            lease_until=now + self.lease,
            due_before=due.due_before,
            stale_before=due.stale_before,
            limit=settings.batch_size,
            filters=self.options.filters,
            run_started=self.result.started_at,
            retry_before=due.retry_before,
        )

    async def renew(self, ids: Sequence[int]) -> set[int]:
        """Extend the leases of the rows still in this run's hands."""
        db, now = self.deps.db, self.deps.clock.now()
        return await db.call(
            db.store.renew_leases, ids, self.result.run_id, now=now, lease_until=now + self.lease
        )

    async def process(self, conn: Connection) -> bool:
        """Refresh one row and count its outcome; whether storing it ended the lease."""
        outcome = await self.refresher.refresh(conn)
        if outcome is None:
            return False  # nothing sent: still leased (released at the end) or another run's
        self.result.count(outcome, self.options.keeps(outcome.success))
        self.deps.progress(outcome)
        # Storing tokens, marking a dead grant and backing off each end the lease themselves.
        return not outcome.spooled and (
            outcome.kind in (Refreshed.REFRESHED, Refreshed.NEEDS_REAUTH)
            or outcome.next_attempt_at is not None
        )

    async def release(self, ids: list[int]) -> None:
        """Give back the rows this run claimed and did not refresh."""
        if self.refresher.storage_error is None:  # a lost database: the leases lapse
            await self.deps.db.call(self.deps.db.store.release, ids, self.result.run_id)

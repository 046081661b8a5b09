"""What both jobs do around their work: stop on a signal or a deadline, apply the spool first,
refresh through one Refresher, and at the end write the events time has made and deliver what is
pending (for a bounded time); or, for a dry run, page through what is due."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from tokensync.errors import StorageError
from tokensync.events.delivery import deliver
from tokensync.events.notices import announce
from tokensync.jobs.options import JobOptions
from tokensync.jobs.results import JobResult
from tokensync.jobs.run_record import RunRecorder
from tokensync.refresh.old_grants import revoke_replaced
from tokensync.refresh.refresher import Refresher
from tokensync.refresh.spooled import apply_spool
from tokensync.runtime.deps import Deps
from tokensync.runtime.skew import clock_skew
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection
from tokensync.store.models import OldGrants

R = TypeVar("R", bound=JobResult)


class JobWork(Protocol):
    """What one job does inside the frame."""

    async def work(self, refresher: Refresher, stop: StopSignal) -> None:
        """Claim and act on what is due, refreshing through `refresher`, until done or `stop`."""
        ...

    async def dry_run(self) -> None:
        """Page through what is due, claiming nothing and calling no provider."""
        ...


async def run_framed(deps: Deps, options: JobOptions, result: R, job: JobWork) -> R:
    """Run the job's work (or its dry run) under a stop signal, recorded; fill in the result's
    frame."""
    stop = StopSignal(deps.clock, options.max_duration)
    async with RunRecorder(deps, result, record=not options.dry_run):
        with stop.on_signals():
            if options.dry_run:
                await job.dry_run()
            else:
                # Tokens spooled by a run that lost the database go in first: both jobs refresh,
                # and must never present a refresh token that the spool has already replaced.
                skew = await deps.db.call(
                    clock_skew, deps.db.store, deps.clock.now, deps.settings.clock_skew_warning
                )
                if skew is not None and skew.too_far:
                    result.warnings.append(skew.warning())
                spooled = await apply_spool(deps)
                result.spool_applied, result.spool_superseded = spooled.applied, spooled.superseded
                refresher = Refresher(deps, stop)
                await job.work(refresher, stop)
                result.error = result.error or refresher.storage_error
                if result.error is None and stop.reason is None:
                    result.old_grants = await _old_grants(deps, result)
                if result.error is None:
                    await _events(deps, stop, result)
        result.stopped = stop.reason
        result.finished_at = deps.clock.now()
    return result


async def _old_grants(deps: Deps, result: JobResult) -> OldGrants | None:
    """Revoke the replaced grants whose earlier attempt failed (refresh/old_grants.py)."""
    try:
        old = await revoke_replaced(deps)
    except StorageError as exc:
        result.error = exc
        return None
    return old if old.revoked or old.pending or old.dropped else None


async def _events(deps: Deps, stop: StopSignal, result: JobResult) -> None:
    """Announce what has become due (failing streaks, ending grants), then deliver events for
    at most deliver_within, never past --max-duration; a run stopped by a signal sends nothing."""
    try:
        result.notices = await announce(deps)
        if stop.reason in ("sigterm", "sigint"):
            return
        budget, remaining = deps.settings.deliver_within, stop.remaining()
        if remaining is not None:
            budget = min(budget, remaining)
        result.deliveries = await deliver(deps, budget=budget, stop=stop)
    except StorageError as exc:
        result.error = exc


async def due_pages(
    find: Callable[[int], Awaitable[Sequence[Connection]]], page_size: int
) -> AsyncIterator[Sequence[Connection]]:
    """A dry run's due connections, a page at a time by id (find(after_id) reads one page)."""
    after = 0
    while True:
        page = await find(after)
        yield page
        if len(page) < page_size:
            return
        after = page[-1].id

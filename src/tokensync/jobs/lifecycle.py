"""What both jobs do around their work: stop on a signal or a deadline, apply the spool first,
refresh through one Refresher, and at the end write the events time has made and deliver what is
pending (for a bounded time); or, for a dry run, page through what is due."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from tokensync.errors import CryptoError, StorageError
from tokensync.jobs.delivery import deliver
from tokensync.jobs.deps import Deps
from tokensync.jobs.notices import announce
from tokensync.jobs.options import JobOptions
from tokensync.jobs.refresher import Refresher, revoke_superseded
from tokensync.jobs.results import JobResult
from tokensync.jobs.run_record import RunRecorder
from tokensync.jobs.skew import clock_skew
from tokensync.jobs.stop import StopSignal
from tokensync.revocation import decrypted_grant
from tokensync.store import Connection
from tokensync.store.spool import SpoolEntry

R = TypeVar("R", bound=JobResult)
Work = Callable[[Refresher, StopSignal], Awaitable[None]]


async def run_job(
    deps: Deps,
    options: JobOptions,
    result: R,
    *,
    work: Work,
    dry_run: Callable[[], Awaitable[None]],
) -> R:
    """Run `work` (or `dry_run`) under a stop signal, recorded; fill in the result's frame."""
    stop = StopSignal(deps.clock, options.max_duration)
    async with RunRecorder(deps, result, record=not options.dry_run):
        with stop.on_signals():
            if options.dry_run:
                await dry_run()
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
                await work(refresher, stop)
                result.error = result.error or refresher.storage_error
                if result.error is None:
                    await _events(deps, stop, result)
        result.stopped = stop.reason
        result.finished_at = deps.clock.now()
    return result


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


@dataclass(frozen=True)
class SpoolReport:
    """What applying the spool did: token sets stored, and those of grants the application
    replaced since (revoked where the platform allows, never stored)."""

    applied: int = 0
    superseded: int = 0


async def apply_spool(deps: Deps) -> SpoolReport:
    """Store the token sets a previous run could not."""
    db, applied, superseded = deps.db, 0, 0
    for path, entry in deps.spool.pending():
        became = await db.call(
            db.store.apply_spooled,
            entry.connection_id,
            entry.user_id,
            entry.platform,
            access_token_enc=entry.access_token_enc,
            refresh_token_enc=entry.refresh_token_enc,
            expires_at=datetime.fromisoformat(entry.expires_at) if entry.expires_at else None,
            issued_at=datetime.fromisoformat(entry.issued_at),
            now=deps.clock.now(),
            grant_generation=entry.grant_generation,
        )
        if became == "superseded":
            superseded += 1
            await _revoke_spooled(deps, entry)
        applied += became == "applied"
        deps.spool.done(path)
    return SpoolReport(applied, superseded)


async def _revoke_spooled(deps: Deps, entry: SpoolEntry) -> None:
    """The spooled tokens of a replaced grant: revoked where the platform allows (their fate is
    counted in the document, not itemised: the run that spooled them reported the row)."""
    platform = deps.settings.platforms.get(entry.platform)
    if platform is None or not platform.revoke_superseded or entry.refresh_token_enc is None:
        return
    try:
        grant = decrypted_grant(
            deps.require_keyring(),
            entry.user_id,
            entry.platform,
            entry.access_token_enc,
            entry.refresh_token_enc,
            "a spooled token set",
        )
    except CryptoError:
        return  # a key since removed: nothing can be presented
    await revoke_superseded(deps, platform, grant)


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

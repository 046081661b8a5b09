"""Why a run selected with --user left a connection alone, and when it is next due.

A run asked about one user ("poll-platforms --user u_1" right after a scheduled run) that finds
nothing due must say why, not print zeros. What is due is decided by the claims' SQL alone
(queries.sql, due_refresh and due_poll); this module only explains, after the run, the rows of
the selection that the run did not act on, from their state then. Only a run filtered by user
asks: the selection is then a handful of rows, read from the (user_id, platform) index.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from tokensync.jobs.options import JobOptions, RefreshOptions
from tokensync.jobs.results import JobResult, Skipped
from tokensync.platforms.registry import pollable_platforms
from tokensync.runtime.deps import Deps
from tokensync.store import Connection


async def explain_skips(deps: Deps, options: JobOptions, result: JobResult) -> list[Skipped]:
    """The connections of the selected users (and platforms) the run left alone, with why."""
    rows = await deps.db.call(deps.db.store.user_connections, options.filters.users)
    chosen = options.filters.platforms
    acted = result.acted_on or set()
    left = [c for c in rows if c.id not in acted and (not chosen or c.platform in chosen)]
    now = deps.clock.now()
    if isinstance(options, RefreshOptions):
        return [_refresh_skip(c, now, options, deps, result.run_id) for c in left]
    pollable = pollable_platforms(deps.settings.platforms)
    return [_poll_skip(c, now, result, pollable) for c in left]


def _inactive(conn: Connection, now: datetime, owner: str) -> Skipped | None:
    if conn.status != "active":
        return Skipped(conn, conn.status)
    if conn.lease_owner not in (None, owner) and _after(conn.lease_expires_at, now):
        return Skipped(conn, "leased")  # another process is refreshing it right now
    return None


def _refresh_skip(
    conn: Connection, now: datetime, options: RefreshOptions, deps: Deps, owner: str
) -> Skipped:
    inactive = _inactive(conn, now, owner)
    if inactive is not None:
        return inactive
    if conn.refresh_token_enc is None:
        return Skipped(conn, "no_refresh_token")
    if not options.force and _after(conn.next_attempt_at, now):
        return Skipped(conn, "backing_off", conn.next_attempt_at)
    due = [conn.tokens_updated_at + timedelta(seconds=deps.settings.refresh_stale_after)]
    if conn.expires_at is not None:
        due.append(conn.expires_at - timedelta(seconds=options.window))
    next_due = min(due)
    # Due, yet untouched: the run stopped first, or its token was renewed during the run.
    return Skipped(conn, "not_due" if next_due > now else "not_reached", next_due)


def _poll_skip(
    conn: Connection, now: datetime, result: JobResult, pollable: Collection[str]
) -> Skipped:
    inactive = _inactive(conn, now, result.run_id)
    if inactive is not None:
        return inactive
    if conn.platform not in pollable:
        return Skipped(conn, "not_pollable")
    if _after(conn.poll_lease_expires_at, now):
        return Skipped(conn, "being_polled")
    if _after(conn.next_poll_at, result.started_at):
        return Skipped(conn, "polled_recently", conn.next_poll_at)
    return Skipped(conn, "not_reached", conn.next_poll_at)


def _after(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now


def reasons(skipped: Sequence[Skipped]) -> dict[str, int]:
    """How many were skipped for each reason."""
    counts: dict[str, int] = {}
    for skip in skipped:
        counts[skip.reason] = counts.get(skip.reason, 0) + 1
    return dict(sorted(counts.items()))

"""The events that time makes, rather than a request: a streak of refresh failures that has lasted
longer than `failing_after` (connection.failing, once a streak), and a grant whose own end comes
within `expiring_within` (connection.expiring, once an end). Each job run looks for them at its
end; each is marked and its event written in one transaction, so two runs never announce one
twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tokensync.runtime.deps import Deps

# Rows marked (and events written) per transaction.
_BATCH = 500


@dataclass(frozen=True)
class Notices:
    """How many events a look made: failing streaks and ending grants."""

    failing: int = 0
    expiring: int = 0


async def announce(deps: Deps) -> Notices:
    """Write connection.failing and connection.expiring for what has become due."""
    db, settings, now = deps.db, deps.settings, deps.clock.now()
    failing_before = now - timedelta(seconds=settings.failing_after)
    ends_before = now + timedelta(seconds=settings.expiring_within)
    failing = expiring = 0
    while True:
        found = await db.call(
            db.store.notice_failing, failing_before=failing_before, now=now, limit=_BATCH
        )
        failing += found
        if found < _BATCH:
            break
    while True:
        found = await db.call(
            db.store.notice_expiring, ends_before=ends_before, now=now, limit=_BATCH
        )
        expiring += found
        if found < _BATCH:
            break
    return Notices(failing, expiring)

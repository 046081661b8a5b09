"""Ending poll leases in groups, on both engines: Store.finish_polls ends this run's leases of the
group only (a success also sets last_sync_at), and jobs/poll_finishes.py writes every lease
handed over while a group was being written as the next group, and has them all ended once
drained; a group whose write fails is reported, the others still written."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tests.support.support import FakeClock
from tokensync.errors import StorageError
from tokensync.jobs.poll_finishes import PollFinishes
from tokensync.runtime.async_store import AsyncStore
from tokensync.store import Connection, Filters, NewTokens, Store

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def claimed(store: Store, owner: str, users: Sequence[str]) -> list[Connection]:
    """Discord connections of these users, poll-leased to `owner`."""
    rows = [NewTokens(u, "discord", f"a-{u}", f"r-{u}", "Bearer", None, None) for u in users]
    store.upsert_connections(rows, NOW)
    return store.claim_due_polls(
        owner,
        now=NOW,
        lease_until=NOW + timedelta(minutes=5),
        next_poll_at=NOW + timedelta(minutes=30),
        due_before=NOW + timedelta(seconds=1),
        platform="discord",
        limit=100,
        filters=Filters(users=tuple(users)),
    )


def leases(store: Store, users: Sequence[str]) -> dict[str, tuple[bool, datetime | None]]:
    """Each user's discord connection: (whether a poll lease holds it, its last_sync_at)."""
    found = {}
    for user in users:
        conn = store.find_connection(user, "discord")
        assert conn is not None
        found[user] = (conn.poll_lease_expires_at is not None, conn.last_sync_at)
    return found


def test_a_group_ends_this_runs_leases_and_stamps_the_successes(store: Store) -> None:
    mine = claimed(store, "run-a", ["u1", "u2", "u3"])
    theirs = claimed(store, "run-b", ["u4"])
    later = NOW + timedelta(seconds=40)
    finished = [(c.id, c.user_id != "u2") for c in mine] + [(theirs[0].id, True)]
    store.finish_polls(finished, "run-a", now=later)
    store.finish_polls([], "run-a", now=later)  # nothing to end: no statement
    assert leases(store, ["u1", "u2", "u3", "u4"]) == {
        "u1": (False, later),
        "u2": (False, None),  # failed: its lease ends, and it is not synced
        "u3": (False, later),
        "u4": (True, None),  # another run's lease is not this run's to end
    }


def test_leases_handed_over_during_a_write_go_in_the_next_group(store: Store) -> None:
    users = [f"u{n}" for n in range(12)]
    conns = claimed(store, "run-a", users)
    groups: list[list[int]] = []
    write = store.finish_polls

    def counted(finished: Sequence[tuple[int, bool]], owner: str, *, now: datetime) -> None:
        groups.append([connection_id for connection_id, _ in finished])
        write(finished, owner, now=now)

    store.finish_polls = counted  # type: ignore[method-assign]
    failures: list[StorageError] = []

    async def run() -> None:
        db = AsyncStore(store)
        try:
            finishes = PollFinishes(db, "run-a", FakeClock(NOW), failures.append)
            finishes.add(conns[0].id, True)
            await asyncio.sleep(0)  # its write starts on the database thread
            for conn in conns[1:]:  # handed over while it runs
                finishes.add(conn.id, True)
            await finishes.drain()
        finally:
            db.close()

    asyncio.run(run())
    assert groups == [[conns[0].id], [c.id for c in conns[1:]]]
    assert failures == []
    assert all(lease == (False, NOW) for lease in leases(store, users).values())


def test_a_failed_group_is_reported_and_the_next_one_still_written(store: Store) -> None:
    conns = claimed(store, "run-a", ["u1", "u2"])
    write = store.finish_polls
    calls = 0

    def first_fails(finished: Sequence[tuple[int, bool]], owner: str, *, now: datetime) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StorageError("PostgreSQL: the connection was lost")
        write(finished, owner, now=now)

    store.finish_polls = first_fails  # type: ignore[method-assign]
    failures: list[StorageError] = []

    async def run() -> None:
        db = AsyncStore(store)
        try:
            finishes = PollFinishes(db, "run-a", FakeClock(NOW), failures.append)
            finishes.add(conns[0].id, True)
            await asyncio.sleep(0)
            finishes.add(conns[1].id, True)
            await finishes.drain()
        finally:
            db.close()

    asyncio.run(run())
    assert [str(f) for f in failures] == ["PostgreSQL: the connection was lost"]
    assert leases(store, ["u1", "u2"]) == {"u1": (True, None), "u2": (False, NOW)}

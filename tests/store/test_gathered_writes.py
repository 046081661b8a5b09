"""AsyncStore.write_row: the lease checks and saves that arrive while the database thread is busy
go together in its next call, each caller told its own row's answer (both engines)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.store.test_row_writes import check
from tests.store.test_store import NOW, claim, tokens
from tests.support.support import query_value
from tokensync import bootstrap
from tokensync.errors import DatabaseTimeoutError, StorageError
from tokensync.runtime.async_store import AsyncStore
from tokensync.settings import load_settings
from tokensync.store import Connection, Store, open_store
from tokensync.store.engine import RowWrite


def recorded(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the store is asked to write."""
    sizes: list[int] = []
    original = store.write_rows

    def write_rows(writes: Sequence[RowWrite]) -> list[bool]:
        sizes.append(len(writes))
        return original(writes)

    monkeypatch.setattr(store, "write_rows", write_rows)
    return sizes


def leased(store: Store, users: str) -> dict[str, Connection]:
    store.upsert_connections([tokens(u) for u in users], NOW)
    return {c.user_id: c for c in claim(store, "run")}


async def hold(db: AsyncStore, gate: threading.Event) -> asyncio.Future[bool]:
    """Keep the database thread busy until `gate` opens."""
    busy = asyncio.ensure_future(db.call(gate.wait, 60))
    await asyncio.sleep(0)
    return busy


def test_writes_made_while_the_thread_is_busy_go_in_one_call(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = leased(store, "abcdefghij")
    sizes = recorded(store, monkeypatch)
    db = AsyncStore(store)

    async def run() -> list[bool]:
        gate = threading.Event()
        busy = await hold(db, gate)
        # Half of them present the stored token, half another: each hears its own answer.
        writes = [
            db.write_row(check(c.id, "run", "enc-r-" + (u if i % 2 == 0 else "stale")))
            for i, (u, c) in enumerate(sorted(rows.items()))
        ]
        waiting = asyncio.gather(*writes)
        await asyncio.sleep(0)
        gate.set()
        await busy
        return await waiting

    try:
        assert asyncio.run(run()) == [True, False] * 5
    finally:
        db.close()
    assert sum(sizes) == 10
    assert len(sizes) <= 2, f"one call a write ({sizes}): nothing was gathered"


def test_a_write_given_up_before_it_went_is_never_sent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = leased(store, "xab")
    sizes = recorded(store, monkeypatch)
    db = AsyncStore(store)

    async def run() -> None:
        gate = threading.Event()
        first = asyncio.ensure_future(db.write_row(check(rows["x"].id, "run", "enc-r-x")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # x's batch has gone to the thread: it holds the thread there
        busy = await hold(db, gate)
        given_up = asyncio.ensure_future(db.write_row(check(rows["a"].id, "run", "enc-r-a")))
        kept = asyncio.ensure_future(db.write_row(check(rows["b"].id, "run", "enc-r-b")))
        await asyncio.sleep(0)
        given_up.cancel()
        gate.set()
        await busy
        assert await first and await kept
        with pytest.raises(asyncio.CancelledError):
            await given_up

    try:
        asyncio.run(run())
    finally:
        db.close()
    a, b = store.get_connection(rows["a"].id), store.get_connection(rows["b"].id)
    assert a is not None and a.lease_sent_at is None, "a was sent after its caller gave up"
    assert b is not None and b.lease_sent_at is not None
    assert sum(sizes) == 2


def test_a_failing_call_fails_every_write_of_it_and_later_writes_go(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = leased(store, "abc")
    original = store.write_rows
    failures = [StorageError("PostgreSQL: connection lost")]

    def write_rows(writes: Sequence[RowWrite]) -> list[bool]:
        if failures:
            raise failures.pop()
        return original(writes)

    monkeypatch.setattr(store, "write_rows", write_rows)
    db = AsyncStore(store)

    async def run() -> list[bool | BaseException]:
        gate = threading.Event()
        busy = await hold(db, gate)
        both = asyncio.gather(
            db.write_row(check(rows["a"].id, "run", "enc-r-a")),
            db.write_row(check(rows["b"].id, "run", "enc-r-b")),
            return_exceptions=True,
        )
        await asyncio.sleep(0)
        gate.set()
        await busy
        answers = list(await both)
        answers.append(await db.write_row(check(rows["c"].id, "run", "enc-r-c")))
        return answers

    try:
        a, b, c = asyncio.run(run())
    finally:
        db.close()
    assert isinstance(a, StorageError) and isinstance(b, StorageError)
    assert c is True


def test_a_database_that_stops_answering_fails_the_waiting_writes(store: Store) -> None:
    rows = leased(store, "ab")
    db = AsyncStore(store, timeout=0.5)
    gate = threading.Event()

    async def run() -> list[bool | BaseException]:
        stuck = asyncio.ensure_future(db.call(gate.wait, 60))
        await asyncio.sleep(0)
        answers = await asyncio.gather(
            db.write_row(check(rows["a"].id, "run", "enc-r-a")),
            db.write_row(check(rows["b"].id, "run", "enc-r-b")),
            return_exceptions=True,
        )
        with pytest.raises(DatabaseTimeoutError):
            await stuck
        return list(answers)

    try:
        answers = asyncio.run(run())
    finally:
        gate.set()
        db.close()
    assert all(isinstance(a, DatabaseTimeoutError) for a in answers), answers


def test_lease_checks_on_their_own_connection_never_wait_behind_the_other_calls(
    store: Store, db_url: str
) -> None:
    """While the main thread is held (a save batch, a claim), a lease check on the checks'
    connection is answered; without one, it waits its turn."""
    rows = leased(store, "ab")
    checks = open_store(db_url)
    db = AsyncStore(store, checks=checks)
    alone = AsyncStore(store)

    async def run() -> tuple[bool, bool]:
        gate = threading.Event()
        busy = await hold(db, gate)
        answered = await asyncio.wait_for(db.check_row(check(rows["a"].id, "run", "enc-r-a")), 60)
        held_busy = await hold(alone, gate)
        queued = asyncio.ensure_future(alone.check_row(check(rows["b"].id, "run", "enc-r-b")))
        await asyncio.sleep(0.2)
        waited = not queued.done()
        gate.set()
        await busy
        await held_busy
        assert await queued
        return answered, waited

    try:
        answered, waited = asyncio.run(run())
    finally:
        db.close()
        alone.close()
        checks.close()
    assert answered, "the check was answered while the main thread was held"
    assert waited, "without a connection of its own, the check waits behind the held thread"


def test_a_postgresql_run_checks_leases_on_a_connection_of_its_own(
    db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL: a second connection for the lease checks, closed with the run (SQLite: one
    file, one connection)."""
    environ = {"TOKENSYNC_DATABASE_URL": db_url, "TOKENSYNC_DATA_DIR": str(tmp_path)}
    settings = load_settings(environ)

    async def lanes() -> tuple[bool, object]:
        async with bootstrap.job_deps(
            settings, owner="lanes", concurrency=4, keyring=None, progress=lambda _: None
        ) as deps:
            checks = deps.db.checks
            if checks is not None:
                assert checks.store is not deps.db.store
                assert await checks.call(checks.store.database_id) == await deps.db.call(
                    deps.db.store.database_id
                )
            return checks is not None, sessions(db_url) if checks is not None else None

    has_lane, during = asyncio.run(lanes())
    assert has_lane == db_url.startswith("postgresql")
    if has_lane:
        assert during == sessions(db_url) + 2, "both connections are closed with the run"


def sessions(db_url: str) -> object:
    """The sessions open on this database (the one asking included)."""
    return query_value(
        db_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    )

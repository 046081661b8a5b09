"""The store contract: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.support import run_sql, stored_items
from tokensync.errors import ConfigError, SchemaTooNewError, StorageError
from tokensync.store import Filters, NewTokens, Store, open_store
from tokensync.store.base import migrations
from tokensync.store.models import BatchCounts, BatchWrite, StoredItem, SyncCursor

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def tokens(user: str, platform: str = "spotify", minutes: float | None = 5) -> NewTokens:
    expires = NOW + timedelta(minutes=minutes) if minutes is not None else None
    return NewTokens(user, platform, f"enc-a-{user}", f"enc-r-{user}", "Bearer", None, expires)


@contextlib.contextmanager
def live(db_url: str, *owners: str) -> Iterator[None]:
    """These lease owners live meanwhile, in another process's stead (another store, another
    connection): their sent rows are never taken over."""
    other = open_store(db_url)
    try:
        for owner in owners:
            other.hold_lease_owner(owner)
        yield
    finally:
        other.close()


def end_leases(db_url: str, owner: str) -> int:
    """The owner's leases lapsed long ago, by any clock."""
    return run_sql(
        db_url,
        "UPDATE connections SET lease_expires_at = ? WHERE lease_owner = ?",
        "2000-01-01T00:00:00.000000Z" if db_url.startswith("sqlite") else LONG_AGO,
        owner,
    )


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def claim(store: Store, owner: str, now: datetime = NOW, limit: int = 100, **kw):
    return store.claim_due_refreshes(
        owner,
        now=now,
        lease_until=now + timedelta(minutes=5),
        due_before=now + timedelta(minutes=10),
        stale_before=now - timedelta(days=1),
        limit=limit,
        filters=kw.get("filters", Filters()),
    )


def test_migrate_is_idempotent_and_versioned(store: Store) -> None:
    assert store.schema_version() == migrations(store.engine)[-1][0]
    assert store.migrate(NOW) == []
    assert store.schema_version() == migrations(store.engine)[-1][0]


def test_schema_newer_than_program_is_refused(store: Store) -> None:
    with store.transaction():
        store._run("record_version", {"version": 99, "now": NOW})
    with pytest.raises(SchemaTooNewError, match="newer than this tokensync"):
        store.migrate(NOW)


def test_upsert_counts_and_replaces(store: Store) -> None:
    counts = store.upsert_connections([tokens("u1"), tokens("u2")], NOW)
    assert (counts.inserted, counts.updated) == (2, 0)
    later = NOW + timedelta(hours=1)
    counts = store.upsert_connections([tokens("u1", minutes=90)], later)
    assert (counts.inserted, counts.updated) == (0, 1)
    conn = next(c for c in store.iter_connections(Filters()) if c.user_id == "u1")
    assert conn.expires_at == NOW + timedelta(minutes=90)
    assert conn.status == "active" and conn.tokens_updated_at == later


def test_an_import_at_the_same_instant_as_the_last_still_replaces(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing tells rows apart by their time: two imports in one instant (a fixed clock) are two
    imports, chunks that mix new and known connections included."""
    from tokensync.store import importing

    monkeypatch.setattr(importing, "CHUNK_ROWS", 3)
    counts = store.upsert_connections([tokens("a"), tokens("b")], NOW)
    assert (counts.inserted, counts.updated) == (2, 0)
    again = [tokens("a", minutes=90), tokens("c"), tokens("b", minutes=90), tokens("d")]
    counts = store.upsert_connections(again, NOW)
    assert (counts.inserted, counts.updated) == (2, 2)
    expiries = {c.user_id: c.expires_at for c in store.iter_connections(Filters())}
    assert expiries["a"] == expiries["b"] == NOW + timedelta(minutes=90)
    assert set(expiries) == {"a", "b", "c", "d"}


@pytest.mark.parametrize("engine", ["postgres"])  # SQLite's import holds the write lock
def test_a_connection_added_meanwhile_fails_the_import_whole(
    store: Store, db_url: str, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer adds a connection of the chunk between its UPDATE and its INSERT: the
    import refuses (exit 3: run it again) rather than count or keep half of it."""
    import psycopg

    from tokensync.store.postgres import PostgresStore

    store.upsert_connections([tokens("old")], NOW)
    original = PostgresStore._rowcount

    def meanwhile(self: PostgresStore, name: str, params: Any) -> int:
        done = original(self, name, params)
        if name == "import_update":
            with psycopg.connect(db_url, autocommit=True) as other:
                other.execute(
                    "INSERT INTO connections (user_id, platform, access_token_enc, status, "
                    "tokens_updated_at, created_at, updated_at) "
                    "VALUES ('new', 'spotify', 'x', 'active', now(), now(), now())"
                )
        return done

    monkeypatch.setattr(PostgresStore, "_rowcount", meanwhile)
    with pytest.raises(StorageError, match="added meanwhile by another writer"):
        store.upsert_connections([tokens("old", minutes=90), tokens("new")], NOW)
    monkeypatch.undo()
    old = next(c for c in store.iter_connections(Filters()) if c.user_id == "old")
    assert old.expires_at == NOW + timedelta(minutes=5), "the UPDATE was rolled back"


def test_iter_connections_pages_and_filters(store: Store) -> None:
    store.upsert_connections(
        [tokens(f"u{i}", "spotify" if i % 2 else "github") for i in range(7)], NOW
    )
    assert len(list(store.iter_connections(Filters(), page=2))) == 7
    github = list(store.iter_connections(Filters(platforms=("github",)), page=2))
    assert {c.platform for c in github} == {"github"} and len(github) == 4
    assert [c.user_id for c in store.iter_connections(Filters(users=("u3", "u4")))] == ["u3", "u4"]


def test_claim_takes_due_rows_once(store: Store, db_url: str) -> None:
    store.upsert_connections(
        [tokens("soon", minutes=5), tokens("later", minutes=120), tokens("never", minutes=None)],
        NOW,
    )
    with live(db_url, "run-a"):
        first = claim(store, "run-a")
        assert [c.user_id for c in first] == ["soon"]
        assert first[0].lease_owner == "run-a"
        assert claim(store, "run-b") == []
        # A lapsed lease on a row not sent yet is claimable again.
        assert end_leases(db_url, "run-a") == 1
        again = claim(store, "run-b")
        assert [c.user_id for c in again] == ["soon"]


def test_stale_tokens_are_due(store: Store) -> None:
    store.upsert_connections([tokens("old", minutes=None)], NOW - timedelta(days=2))
    assert [c.user_id for c in claim(store, "r")] == ["old"]


def test_claim_respects_back_off_filters_and_status(store: Store) -> None:
    store.upsert_connections([tokens("a"), tokens("b"), tokens("c", "github")], NOW)
    (a,) = claim(store, "r1", filters=Filters(users=("a",)))
    assert (
        store.record_failure(
            a.id,
            "r1",
            code="transient",
            message="503",
            next_attempt_at=NOW + timedelta(hours=1),
            now=NOW,
            grant_generation=1,
        )
        == 1
    )
    (b,) = claim(store, "r2", filters=Filters(platforms=("spotify",)))
    assert b.user_id == "b"
    assert store.mark_needs_reauth(
        b.id,
        "r2",
        refresh_token_enc="enc-r-b",
        code="invalid_grant",
        message="revoked",
        now=NOW,
        grant_generation=1,
    )
    assert [c.user_id for c in claim(store, "r3")] == ["c"]


def test_writes_need_the_lease(store: Store) -> None:
    store.upsert_connections([tokens("a")], NOW)
    (conn,) = claim(store, "owner")
    common = dict(access_token_enc="new-a", refresh_token_enc=None, expires_at=NOW, now=NOW)
    assert not store.save_refreshed(
        conn.id, "intruder", previous_refresh_enc="other", **common, grant_generation=1
    )
    assert store.save_refreshed(
        conn.id, "owner", previous_refresh_enc="enc-r-a", **common, grant_generation=1
    )
    saved = store.get_connection(conn.id)
    assert saved is not None
    assert saved.access_token_enc == "new-a"
    assert saved.refresh_token_enc == "enc-r-a", "no new refresh token keeps the old one"
    assert saved.lease_owner is None and saved.last_refreshed_at == NOW


def test_lapsed_lease_writes_only_if_nobody_refreshed(store: Store, db_url: str) -> None:
    store.upsert_connections([tokens("a")], NOW)
    (conn,) = claim(store, "slow")
    later = NOW + timedelta(minutes=6)
    end_leases(db_url, "slow")
    (taken,) = claim(store, "fast", now=later)
    assert store.save_refreshed(
        taken.id,
        "fast",
        access_token_enc="A2",
        refresh_token_enc="R2",
        previous_refresh_enc="enc-r-a",
        expires_at=later,
        now=later,
        grant_generation=1,
    )
    assert not store.save_refreshed(
        conn.id,
        "slow",
        access_token_enc="A3",
        refresh_token_enc="R3",
        previous_refresh_enc="enc-r-a",
        expires_at=later,
        now=later,
        grant_generation=1,
    )
    assert store.get_connection(conn.id).refresh_token_enc == "R2"  # type: ignore[union-attr]


def test_needs_reauth_only_if_token_unchanged(store: Store) -> None:
    store.upsert_connections([tokens("a")], NOW)
    (conn,) = claim(store, "r")
    assert not store.mark_needs_reauth(
        conn.id,
        "r",
        refresh_token_enc="something-else",
        code="invalid_grant",
        message="x",
        now=NOW,
        grant_generation=1,
    )
    assert store.get_connection(conn.id).status == "active"  # type: ignore[union-attr]


def test_release_and_claim_one(store: Store, db_url: str) -> None:
    store.upsert_connections([tokens("a")], NOW)
    with live(db_url, "r"):
        (conn,) = claim(store, "r")
        assert (
            store.claim_one(conn.id, "other", now=NOW, lease_until=NOW + timedelta(minutes=1))
            is None
        )
        assert store.claim_one(conn.id, "r", now=NOW, lease_until=NOW + timedelta(minutes=9))
        store.release([conn.id], "r")
        assert store.claim_one(conn.id, "other", now=NOW, lease_until=NOW + timedelta(minutes=1))


def test_apply_spooled_only_when_newer(store: Store) -> None:
    store.upsert_connections([tokens("a")], NOW)
    conn = next(store.iter_connections(Filters()))
    common = dict(access_token_enc="S-A", refresh_token_enc="S-R", expires_at=NOW, now=NOW)
    assert store.apply_spooled(conn.id, "a", "spotify", issued_at=NOW, **common) == "stale"
    assert (
        store.apply_spooled(conn.id, "a", "spotify", issued_at=NOW + timedelta(seconds=1), **common)
        == "applied"
    )
    assert store.get_connection(conn.id).refresh_token_enc == "S-R"  # type: ignore[union-attr]


def test_runs_and_status(store: Store) -> None:
    store.upsert_connections([tokens("a"), tokens("b", "github")], NOW)
    store.start_run("run-1", "refresh-tokens", NOW)
    store.finish_run(
        "run-1", finished_at=NOW, success=True, exit_code=0, summary={"tokensChecked": 2}
    )
    (last,) = store.last_runs(["refresh-tokens"])
    assert last.command == "refresh-tokens" and last.success is True
    assert last.summary == {"tokensChecked": 2}
    counts = {(r.platform, r.status): r.count for r in store.status_counts()}
    assert counts == {("github", "active"): 1, ("spotify", "active"): 1}


def test_replace_ciphertexts_is_compare_and_set(store: Store) -> None:
    store.upsert_connections([tokens("a")], NOW)
    conn = next(store.iter_connections(Filters()))
    assert store.replace_ciphertexts([(conn.id, "stale", "enc-r-a", "x", "y")]) == 0
    assert store.replace_ciphertexts([(conn.id, "enc-a-a", "enc-r-a", "x", "y")]) == 1


def test_unreachable_database_is_a_storage_error(tmp_path) -> None:
    with pytest.raises(StorageError) as info:
        open_store("postgresql://nobody:pw-secret@127.0.0.1:1/none")
    assert "pw-secret" not in info.value.message
    (tmp_path / "plain-file").write_text("")
    # A place that cannot hold the file is the URL's fault (exit 2), named in the message.
    with pytest.raises(ConfigError, match=r"cannot create the SQLite database .*plain-file/x\.db"):
        open_store(f"sqlite:///{tmp_path}/plain-file/x.db")


def test_a_run_never_claims_what_it_renewed(store: Store) -> None:
    store.upsert_connections([tokens("a")], NOW)
    (conn,) = claim(store, "run")
    later = NOW + timedelta(seconds=5)
    store.save_refreshed(
        conn.id,
        "run",
        access_token_enc="A2",
        refresh_token_enc="R2",
        previous_refresh_enc="enc-r-a",
        expires_at=later + timedelta(minutes=5),
        now=later,
        grant_generation=1,
    )
    again = store.claim_due_refreshes(
        "run",
        now=later,
        lease_until=later + timedelta(minutes=5),
        due_before=later + timedelta(hours=2),
        stale_before=later - timedelta(days=1),
        limit=10,
        filters=Filters(),
        run_started=NOW + timedelta(seconds=1),
    )
    assert again == [], "due by the window, but renewed during this run"
    next_run = claim(store, "next", now=later + timedelta(seconds=1))
    assert [c.id for c in next_run] == [conn.id]


def test_save_batch_counts_new_and_changed_and_moves_the_cursor(store: Store, db_url: str) -> None:
    def save(items: list[StoredItem], cursor: str, minute: int) -> BatchCounts:
        now = NOW + timedelta(minutes=minute)
        batch = BatchWrite(items, SyncCursor(cursor=cursor))
        return store.save_batch("u1", "spotify", "plays", batch, now)

    first = [StoredItem("a", {"n": 1, "name": "é"}), StoredItem("b", {"n": 2})]
    assert save(first, "c1", 0) == BatchCounts(new=2)
    # "a" unchanged, "b" changed, "c" new and given twice: the later one wins.
    again = [
        StoredItem("a", {"n": 1, "name": "é"}),
        StoredItem("b", {"n": 20}),
        StoredItem("c", {"n": 3}),
        StoredItem("c", {"n": 30, "big": 2**70}),
    ]
    assert save(again, "c2", 1) == BatchCounts(new=1, changed=1)
    assert save([], "c3", 2) == BatchCounts()
    assert store.sync_states("u1", "spotify")["plays"].cursor == "c3"
    assert store.sync_states("u1", "github") == {}
    assert stored_items(db_url, "u1", "spotify") == {"plays": 3}
    assert store.known_keys("u1", "spotify", "plays", ["a", "c", "z"]) == {"a", "c"}
    assert store.known_keys("u2", "spotify", "plays", ["a"]) == set()


def test_a_claims_cursors_are_read_in_one_call_as_each_connection_reads_its_own(
    store: Store,
) -> None:
    """sync_states_of (the poll job reads a claim's cursors with it) agrees with sync_states,
    user by user, and leaves out other platforms and other users."""
    for user, endpoint, cursor in (
        ("u1", "plays", "c1"),
        ("u1", "top", "t1"),
        ("u2", "plays", "c2"),
        ("u3", "plays", "c3"),
    ):
        batch = BatchWrite([], SyncCursor(cursor=cursor, extra={"user": user}))
        store.save_batch(user, "spotify", endpoint, batch, NOW)
    store.save_batch("u1", "github", "repos", BatchWrite([], SyncCursor(cursor="g1")), NOW)
    found = store.sync_states_of("spotify", ["u1", "u2", "u4"])
    assert found == {u: store.sync_states(u, "spotify") for u in ("u1", "u2", "u4")}
    assert found["u1"]["top"] == SyncCursor(cursor="t1", extra={"user": "u1"})
    assert found["u4"] == {} and "u3" not in found
    assert store.sync_states_of("spotify", []) == {}


def test_confirm_lease_is_a_compare_and_set(store: Store, db_url: str) -> None:
    store.upsert_connections([tokens("a")], NOW)
    (conn,) = claim(store, "slow")
    until = NOW + timedelta(minutes=20)
    assert store.confirm_lease(
        conn.id, "slow", refresh_token_enc="enc-r-a", now=NOW, lease_until=until, grant_generation=1
    )
    confirmed = store.get_connection(conn.id)
    assert confirmed is not None and confirmed.lease_sent_at is not None, "marked sent"
    if store.engine == "sqlite":
        assert confirmed.lease_expires_at == until
    else:  # twenty minutes by the server's clock, whatever `now` the caller's clock said
        assert confirmed.lease_expires_at > datetime.now(UTC) + timedelta(minutes=19)
    assert not store.confirm_lease(
        conn.id,
        "other",
        refresh_token_enc="enc-r-a",
        now=NOW,
        lease_until=until,
        grant_generation=1,
    ), "another run's lease"
    assert not store.confirm_lease(
        conn.id,
        "slow",
        refresh_token_enc="enc-r-stale",
        now=NOW,
        lease_until=until,
        grant_generation=1,
    ), "the stored token is not the one about to be sent"
    assert not store.confirm_lease(
        conn.id, "slow", refresh_token_enc="enc-r-a", now=NOW, lease_until=until, grant_generation=2
    ), "another grant"
    end_leases(db_url, "slow")
    assert store.confirm_lease(
        conn.id, "slow", refresh_token_enc="enc-r-a", now=NOW, lease_until=until, grant_generation=1
    ), "a lapsed lease nobody took over is still its holder's"
    end_leases(db_url, "slow")
    (taken,) = claim(store, "fast")
    assert taken.lease_owner == "fast" and taken.lease_sent_at is None
    assert not store.confirm_lease(
        conn.id, "slow", refresh_token_enc="enc-r-a", now=NOW, lease_until=until, grant_generation=1
    )


def test_renew_leases_returns_only_the_leases_still_held(store: Store, db_url: str) -> None:
    store.upsert_connections([tokens(u) for u in ("a", "b", "c")], NOW)
    rows = {c.user_id: c for c in claim(store, "run")}
    until = NOW + timedelta(minutes=5)
    store.release([rows["c"].id], "run")
    ids = [rows[u].id for u in ("a", "b", "c")]
    later = NOW + timedelta(minutes=3)
    assert store.renew_leases(ids, "run", now=later, lease_until=later + timedelta(minutes=5)) == {
        rows["a"].id,
        rows["b"].id,
    }
    assert store.renew_leases(ids, "other", now=later, lease_until=until) == set()
    assert store.renew_leases([], "run", now=later, lease_until=until) == set()
    end_leases(db_url, "run")
    assert store.renew_leases(ids, "run", now=later, lease_until=until) == {
        rows["a"].id,
        rows["b"].id,
    }, "lapsed, but nobody took them over"
    end_leases(db_url, "run")
    claim(store, "other", filters=Filters(users=("a",)))
    assert store.renew_leases(ids, "run", now=later, lease_until=until) == {rows["b"].id}


def test_the_database_holds_its_own_identity(db_url: str) -> None:
    first, second = open_store(db_url), open_store(db_url)
    try:
        identity = first.database_id()
        assert len(identity) == 32 and identity == second.database_id()
    finally:
        first.close()
        second.close()


def test_a_spooled_token_set_does_not_revive_a_grant_refused_after_it(store: Store) -> None:
    store.upsert_connections([tokens("a"), tokens("b")], NOW)
    rows = {c.user_id: c for c in claim(store, "run")}
    issued = NOW + timedelta(minutes=1)
    # a: marked dead after the spooled set was issued; b: marked dead before it.
    for user, when in (("a", issued + timedelta(minutes=1)), ("b", NOW)):
        assert store.mark_needs_reauth(
            rows[user].id,
            "run",
            refresh_token_enc=f"enc-r-{user}",
            code="invalid_grant",
            message="revoked",
            now=when,
            grant_generation=1,
        )
    for user in ("a", "b"):
        assert (
            store.apply_spooled(
                rows[user].id,
                user,
                "spotify",
                access_token_enc=f"spooled-a-{user}",
                refresh_token_enc=f"spooled-r-{user}",
                expires_at=NOW + timedelta(hours=1),
                issued_at=issued,
                now=NOW + timedelta(minutes=5),
            )
            == "applied"
        )
    a, b = (store.get_connection(rows[u].id) for u in ("a", "b"))
    assert a is not None and b is not None
    assert (a.status, a.last_error_code, a.refresh_token_enc) == (
        "needs_reauth",
        "invalid_grant",
        "spooled-r-a",
    )
    assert (b.status, b.last_error_code, b.refresh_token_enc) == ("active", None, "spooled-r-b")

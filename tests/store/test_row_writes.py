"""Engine.write_rows: a refresh's lease checks and saves sent together, each still its own
compare-and-set on its own row, on both engines (PostgreSQL pipelines them)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.store.test_store import NOW, claim, tokens
from tokensync.errors import StorageError
from tokensync.store import Store
from tokensync.store.engine import RowWrite
from tokensync.store.refreshing import lease_check, refreshed_save

UNTIL = NOW + timedelta(minutes=20)


def check(conn_id: int, owner: str, token: str, generation: int = 1) -> RowWrite:
    return lease_check(
        conn_id,
        owner,
        refresh_token_enc=token,
        grant_generation=generation,
        now=NOW,
        lease_until=UNTIL,
    )


def save(conn_id: int, owner: str, previous: str, access: str) -> RowWrite:
    return refreshed_save(
        conn_id,
        owner,
        access_token_enc=access,
        refresh_token_enc=f"{access}-r",
        previous_refresh_enc=previous,
        grant_generation=1,
        expires_at=NOW + timedelta(hours=1),
        now=NOW,
    )


def test_each_write_of_a_batch_is_judged_on_its_own_row(store: Store) -> None:
    """Matched and unmatched writes mixed in one batch: each says what it did, and did only
    that, as when called alone."""
    store.upsert_connections([tokens(u) for u in "abcde"], NOW)
    rows = {c.user_id: c for c in claim(store, "run")}
    writes = [
        check(rows["a"].id, "run", "enc-r-a"),
        check(rows["b"].id, "run", "enc-r-stale"),  # the stored token is another
        save(rows["c"].id, "run", "enc-r-c", "new-c"),
        save(rows["d"].id, "intruder", "enc-r-other", "new-d"),  # neither lease nor token
        check(rows["e"].id, "run", "enc-r-e", generation=2),  # another grant
    ]
    assert store.write_rows(writes) == [True, False, True, False, False]
    after = {u: store.get_connection(rows[u].id) for u in "abcde"}
    assert after["a"] is not None and after["a"].lease_sent_at is not None, "a marked sent"
    assert after["b"] is not None and after["b"].lease_sent_at is None, "b untouched"
    assert after["c"] is not None and after["c"].access_token_enc == "new-c"
    assert after["c"].refresh_token_enc == "new-c-r" and after["c"].lease_owner is None
    assert after["d"] is not None and after["d"].access_token_enc == "enc-a-d", "d untouched"
    assert after["d"].lease_owner == "run"
    assert after["e"] is not None and after["e"].lease_sent_at is None, "e untouched"


def test_a_batch_of_lease_checks_judges_each_row_on_its_own(store: Store) -> None:
    """Lease checks alone (PostgreSQL sends them as one statement, confirm_leases): each row
    is confirmed only with its own owner, grant, token and status, and only those are marked
    sent, their leases extended."""
    store.upsert_connections([tokens(u) for u in "abcdef"], NOW)
    rows = {c.user_id: c for c in claim(store, "run")}
    store.mark_needs_reauth(
        rows["f"].id,
        "run",
        refresh_token_enc="enc-r-f",
        grant_generation=1,
        code="invalid_grant",
        message="revoked",
        now=NOW,
    )
    checks = [
        check(rows["a"].id, "run", "enc-r-a"),
        check(rows["b"].id, "run", "enc-r-stale"),  # the stored token is another
        check(rows["c"].id, "intruder", "enc-r-c"),  # another run's lease
        check(rows["d"].id, "run", "enc-r-d", generation=2),  # another grant
        check(rows["e"].id, "run", "enc-r-e"),
        check(rows["f"].id, "run", "enc-r-f"),  # a dead grant now (its lease ended with it)
    ]
    assert store.write_rows(checks) == [True, False, False, False, True, False]
    after = {u: store.get_connection(rows[u].id) for u in "abcdef"}
    sent = {u for u, c in after.items() if c is not None and c.lease_sent_at is not None}
    assert sent == {"a", "e"}
    for u in "ae":
        confirmed = after[u]
        assert confirmed is not None and confirmed.lease_expires_at is not None
        before = rows[u].lease_expires_at
        assert before is not None and confirmed.lease_expires_at > before, "lease extended"


def test_a_row_checked_then_saved_in_one_batch_is_written_in_order(store: Store) -> None:
    """Writes run in the order given: the save after a row's check sees the check's mark."""
    store.upsert_connections([tokens("a")], NOW)
    (conn,) = claim(store, "run")
    first = [check(conn.id, "run", "enc-r-a"), save(conn.id, "run", "enc-r-a", "new-a")]
    assert store.write_rows(first) == [True, True]
    # The lease ended with the save: no check passes, and a save passes only with the token
    # stored now (nobody refreshed meanwhile), not with the one it replaced.
    again = [
        check(conn.id, "run", "new-a-r"),
        save(conn.id, "run", "enc-r-a", "stale-a"),
        save(conn.id, "run", "new-a-r", "newer-a"),
    ]
    assert store.write_rows(again) == [False, False, True]
    saved = store.get_connection(conn.id)
    assert saved is not None and saved.access_token_enc == "newer-a"


def test_a_failing_batch_raises_and_the_store_goes_on(store: Store) -> None:
    """A statement the database refuses fails the call (every caller of the batch hears it);
    the next call works."""
    store.upsert_connections([tokens("a"), tokens("b")], NOW)
    rows = {c.user_id: c for c in claim(store, "run")}
    params = dict(check(rows["b"].id, "run", "enc-r-b").params)
    if store.engine == "postgres":
        params["grant_generation"] = "one"  # refused by the server itself, mid-pipeline
    else:
        del params["owner"]  # SQLite reads anything as anything: a parameter missing
    broken = RowWrite("confirm_lease", params)
    with pytest.raises(StorageError):
        store.write_rows([check(rows["a"].id, "run", "enc-r-a"), broken])
    if store.engine == "postgres":
        # One implicit transaction between the pipeline's Syncs: nothing of it was committed.
        unmarked = store.get_connection(rows["a"].id)
        assert unmarked is not None and unmarked.lease_sent_at is None
    assert store.write_rows([check(rows["b"].id, "run", "enc-r-b")]) == [True]

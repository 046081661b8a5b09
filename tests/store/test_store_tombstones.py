"""The store's side of deletions, on both engines: walks, tombstones, their atomicity, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.support import live_keys, rows_of, tombstones
from tokensync.errors import LeaseLostError, StorageError
from tokensync.store import Store
from tokensync.store.models import BatchCounts, BatchWrite, StoredItem, SyncCursor

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
WHERE = ("u1", "discord", "user_guilds")


def items(*keys: str, version: int = 1) -> list[StoredItem]:
    return [StoredItem(k, {"id": k, "v": version}) for k in keys]


def save(store: Store, batch: BatchWrite, minute: int = 0) -> BatchCounts:
    return store.save_batch(*WHERE, batch, NOW + timedelta(minutes=minute))


def walk(
    store: Store,
    keys: list[str],
    *,
    generation: int,
    minute: int,
    ends: bool = True,
    walking_from: int | None = None,
    cursor: str | None = None,
) -> BatchCounts:
    """One batch of a walk at `generation` (begun from generation - 1 unless told)."""
    batch = BatchWrite(
        items(*keys),
        SyncCursor(cursor=cursor, generation=generation),
        sweep="absent_from_snapshot" if ends else None,
        walking_from=generation - 1 if walking_from is None else walking_from,
    )
    return save(store, batch, minute)


def test_a_walk_tombstones_what_it_did_not_see_once_and_a_return_clears_it(
    store: Store, db_url: str
) -> None:
    assert walk(store, ["a", "b", "c"], generation=1, minute=0) == BatchCounts(new=3)
    assert walk(store, ["a", "c"], generation=2, minute=1) == BatchCounts(deleted=1)
    assert tombstones(db_url, *WHERE) == {"b": "absent_from_snapshot"}
    gone_at = rows_of(db_url, *WHERE)["b"].deleted_at
    assert gone_at == NOW + timedelta(minutes=1)
    # Still gone: not tombstoned again, its date is the first one.
    assert walk(store, ["a", "c"], generation=3, minute=2) == BatchCounts()
    assert rows_of(db_url, *WHERE)["b"].deleted_at == gone_at
    # Back: the tombstone goes, and it counts as changed (stored), not new.
    assert walk(store, ["a", "b", "c"], generation=4, minute=3) == BatchCounts(changed=1)
    row = rows_of(db_url, *WHERE)["b"]
    assert (row.deleted_at, row.deleted_reason) == (None, None)
    assert row.fetched_at == NOW + timedelta(minutes=3)
    assert live_keys(db_url, *WHERE) == {"a", "b", "c"}


def test_an_item_only_seen_again_is_neither_new_nor_changed(store: Store, db_url: str) -> None:
    walk(store, ["a"], generation=1, minute=0)
    assert walk(store, ["a"], generation=2, minute=1) == BatchCounts()
    assert rows_of(db_url, *WHERE)["a"].fetched_at == NOW, "its content did not change"


def test_a_walk_cut_short_tombstones_nothing_and_its_next_page_carries_it_on(
    store: Store, db_url: str
) -> None:
    walk(store, ["a", "b", "c"], generation=1, minute=0)
    # Generation 2 begins with a page holding "a", and stops there (max_pages, a failure).
    walk(store, ["a"], generation=2, minute=1, ends=False, cursor="offset-1")
    assert tombstones(db_url, *WHERE) == {}
    assert store.sync_states("u1", "discord")["user_guilds"] == SyncCursor(
        cursor="offset-1", generation=2
    )
    # The next run carries generation 2 on (from 2, at 2) and ends it: only "b" is gone.
    counts = walk(store, ["c"], generation=2, walking_from=2, minute=2)
    assert counts == BatchCounts(deleted=1)
    assert tombstones(db_url, *WHERE) == {"b": "absent_from_snapshot"}


def test_keys_seen_without_data_count_as_seen(store: Store, db_url: str) -> None:
    walk(store, ["a", "b", "c"], generation=1, minute=0)
    store.save_batch(
        "u1", "discord", "user_guilds",
        BatchWrite([], SyncCursor(generation=2), seen=["a", "c", "x"], sweep="absent_after_resync",
                   walking_from=1),
        NOW,
    )  # fmt: skip
    assert tombstones(db_url, *WHERE) == {"b": "absent_after_resync"}
    assert set(rows_of(db_url, *WHERE)) == {"a", "b", "c"}, "a key only seen stores nothing"


def test_keys_deleted_at_the_source_are_tombstoned_after_the_items(
    store: Store, db_url: str
) -> None:
    save(store, BatchWrite(items("a", "b"), SyncCursor(cursor="s1")))
    counts = save(
        store, BatchWrite(items("c"), SyncCursor(cursor="s2"), deleted=["a", "zz"]), minute=1
    )
    assert counts == BatchCounts(new=1, deleted=1), "a key never stored is not counted"
    assert tombstones(db_url, *WHERE) == {"a": "deleted_at_source"}
    again = save(store, BatchWrite([], SyncCursor(cursor="s3"), deleted=["a"]), minute=2)
    assert again == BatchCounts(), "tombstoned once"
    assert rows_of(db_url, *WHERE)["a"].deleted_at == NOW + timedelta(minutes=1)
    assert rows_of(db_url, *WHERE)["a"].data == {"id": "a", "v": 1}, "the last copy is kept"


def test_tombstones_are_not_known_and_have_no_stored_data(store: Store) -> None:
    save(store, BatchWrite(items("a", "b"), SyncCursor()))
    save(store, BatchWrite([], SyncCursor(), deleted=["a"]))
    assert store.known_keys(*WHERE, ["a", "b"]) == {"b"}
    assert store.stored_data(*WHERE, ["a", "b"]) == {"b": {"id": "b", "v": 1}}


def test_a_walk_batch_of_a_run_that_lost_its_lease_commits_nothing(
    store: Store, db_url: str
) -> None:
    walk(store, ["a", "b"], generation=1, minute=0)
    # Another run began generation 2 and saw "a" only so far.
    walk(store, ["a"], generation=2, minute=1, ends=False, cursor="theirs")
    # This run still walks generation 1, and would end it having seen "b" only.
    with pytest.raises(LeaseLostError):
        walk(store, ["b", "new"], generation=1, walking_from=1, minute=2, cursor="mine")
    assert set(rows_of(db_url, *WHERE)) == {"a", "b"} and tombstones(db_url, *WHERE) == {}
    assert store.sync_states("u1", "discord")["user_guilds"].cursor == "theirs"


def test_a_batch_of_a_stale_run_never_lowers_a_walk_s_stamp(store: Store, db_url: str) -> None:
    walk(store, ["a", "b"], generation=1, minute=0)
    walk(store, ["a"], generation=2, minute=1, ends=False)
    # A stale run stores "a" outside any walk, stamped with the generation it read: 1.
    save(store, BatchWrite(items("a", version=2), SyncCursor(generation=1)), minute=2)
    assert store.sync_states("u1", "discord")["user_guilds"].generation == 2
    walk(store, ["b"], generation=2, walking_from=2, minute=3)
    assert tombstones(db_url, *WHERE) == {}, "'a' was seen by generation 2"


def test_a_batch_that_fails_inside_its_transaction_leaves_nothing_behind(
    store: Store, db_url: str
) -> None:
    """The database is the last line of defence: a batch that ends a walk commits its items,
    its tombstones and its cursor together or not at all (a reason the schema refuses makes the
    sweep, the last statement, fail)."""
    walk(store, ["a", "b"], generation=1, minute=0, cursor="c1")
    bad = BatchWrite(
        items("a", "new"),
        SyncCursor(cursor="c2", generation=2),
        deleted=["a"],
        sweep="not_a_reason",
        walking_from=1,
    )
    with pytest.raises(StorageError):
        save(store, bad, minute=1)
    assert set(rows_of(db_url, *WHERE)) == {"a", "b"} and tombstones(db_url, *WHERE) == {}
    assert store.sync_states("u1", "discord")["user_guilds"] == SyncCursor("c1", generation=1)


def test_prune_removes_old_tombstones_only_a_batch_at_a_time(store: Store, db_url: str) -> None:
    save(store, BatchWrite(items("a", "b", "c", "d"), SyncCursor()))
    save(store, BatchWrite([], SyncCursor(), deleted=["a", "b"]), minute=0)
    save(store, BatchWrite([], SyncCursor(), deleted=["c"]), minute=60)
    horizon = NOW + timedelta(minutes=30)
    assert store.count_tombstones(horizon) == 2
    assert store.prune_tombstones(horizon, limit=1) == 1
    assert store.prune_tombstones(horizon, limit=1) == 1
    assert store.prune_tombstones(horizon, limit=1) == 0
    assert set(rows_of(db_url, *WHERE)) == {"c", "d"}
    assert store.count_tombstones(NOW + timedelta(days=1)) == 1

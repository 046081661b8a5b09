"""The change feed in the store, on both engines: every kind of change gets a position, an item
comes once in its latest state, pages and `next`, a tombstone's reason, and pruning's
position_expired. And, on PostgreSQL, a reader that hands out the last position it saw in sequence
order loses a change that commits late, where the feed does not. `data changes` over the same
feed is tests/cli/test_change_feed.py; the feed under concurrent writer processes is
tests/process/test_change_feed_property.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tokensync.errors import PositionExpiredError
from tokensync.store import Store, open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
WHERE = ("u1", "discord", "user_guilds")


def walk(store: Store, data: dict[str, int], *, generation: int, minute: int = 0) -> None:
    """A whole walk of the endpoint: these items, with these versions; the rest is swept."""
    batch = BatchWrite(
        [StoredItem(k, {"id": k, "v": v}) for k, v in data.items()],
        SyncCursor(cursor=None, generation=generation),
        sweep="absent_from_snapshot",
        walking_from=generation - 1,
    )
    store.save_batch(*WHERE, batch, NOW + timedelta(minutes=minute))


def read_all(store: Store, after: str | None, page: int = 2) -> tuple[list[tuple[str, str]], str]:
    """(op, key) of every change after `after`, in pages of `page`; and the last `next`."""
    seen: list[tuple[str, str]] = []
    while True:
        got = store.read_changes(after, limit=page)
        seen += [(c.op, c.item_key) for c in got.changes]
        after = got.next
        if not got.has_more:
            return seen, after


def test_inserts_updates_tombstones_and_returns_each_come_once_in_their_latest_state(
    store: Store,
) -> None:
    walk(store, {"a": 1, "b": 1, "c": 1}, generation=1)
    first, position = read_all(store, None)
    assert first == [("upsert", "a"), ("upsert", "b"), ("upsert", "c")]
    # Nothing changed: nothing to read, and the position stays usable.
    walk(store, {"a": 1, "b": 1, "c": 1}, generation=2, minute=1)
    assert read_all(store, position)[0] == []
    # b changes, c goes: two changes; a only stamped by the walk is no change.
    walk(store, {"a": 1, "b": 2}, generation=3, minute=2)
    delta, position2 = read_all(store, position)
    assert sorted(delta) == [("delete", "c"), ("upsert", "b")]
    # c comes back, then changes again before anyone reads: one change, its latest state.
    walk(store, {"a": 1, "b": 2, "c": 1}, generation=4, minute=3)
    walk(store, {"a": 1, "b": 2, "c": 5}, generation=5, minute=4)
    page = store.read_changes(position2, limit=10)
    assert [(c.op, c.item_key, c.data) for c in page.changes] == [
        ("upsert", "c", {"id": "c", "v": 5})
    ]
    # From the beginning: the current data set, each item once.
    everything = store.read_changes(None, limit=10).changes
    assert sorted((c.item_key, c.op) for c in everything) == [
        ("a", "upsert"),
        ("b", "upsert"),
        ("c", "upsert"),
    ]


def test_a_tombstone_carries_its_reason_and_time(store: Store) -> None:
    walk(store, {"a": 1, "b": 1}, generation=1)
    walk(store, {"a": 1}, generation=2, minute=7)
    (gone,) = [c for c in store.read_changes(None, limit=10).changes if c.op == "delete"]
    assert (gone.item_key, gone.deleted_reason, gone.data) == ("b", "absent_from_snapshot", None)
    assert gone.changed_at == NOW + timedelta(minutes=7)


def test_a_reader_before_pruned_tombstones_must_start_again(store: Store) -> None:
    walk(store, {"a": 1, "b": 1}, generation=1)
    old = store.read_changes(None, limit=10).next
    walk(store, {"a": 1}, generation=2, minute=1)
    assert store.oldest_position() == "0-0"
    assert store.prune_tombstones(NOW + timedelta(days=1), 100) == 1
    with pytest.raises(PositionExpiredError, match="from the beginning"):
        store.read_changes(old, limit=10)
    # From the beginning: the live item; the reader's new position works again.
    fresh = store.read_changes(None, limit=10)
    assert [c.item_key for c in fresh.changes] == ["a"]
    assert store.read_changes(fresh.next, limit=10).changes == []
    assert store.oldest_position() != "0-0"


def test_a_naive_sequence_ordered_reader_loses_a_late_commit_the_feed_does_not(
    postgres_url: str,
) -> None:
    first, second, reader = (open_store(postgres_url) for _ in range(3))
    first.migrate(datetime.now(UTC))

    def put(store: Any, key: str) -> None:
        batch = BatchWrite([StoredItem(key, {"id": key})], SyncCursor(cursor=None, generation=0))
        store.save_batch("u1", "discord", key, batch, datetime.now(UTC))

    def naive(after: tuple[int, int]) -> list[tuple[str, tuple[int, int]]]:
        """What a reader ordered by position alone, without the horizon, gets."""
        with psycopg.connect(postgres_url, autocommit=True) as db:
            rows = db.execute(
                "SELECT item_key, CAST(change_txn AS text), id FROM user_platform_data"
                " WHERE (change_txn, id) > (CAST(%s AS xid8), %s) ORDER BY change_txn, id",
                (str(after[0]), after[1]),
            ).fetchall()
        return [(k, (int(t), i)) for k, t, i in rows]

    with first.transaction():
        put(first, "early")  # takes its transaction id first, commits last
        with second.transaction():
            put(second, "late")
        seen = naive((0, 0))
        assert [k for k, _ in seen] == ["late"]
        naive_position = seen[-1][1]
        # The feed withholds "late": an older transaction still runs.
        held = reader.read_changes(None, limit=10)
        assert held.changes == []
    # The naive reader's position is past "early", which it never sees.
    assert naive(naive_position) == []
    # The feed's reader, from the position it was handed, gets both.
    page = reader.read_changes(held.next, limit=10)
    assert {c.item_key for c in page.changes} == {"early", "late"}
    for store in (first, second, reader):
        store.close()

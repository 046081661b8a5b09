"""The change feed on both engines: every kind of change gets a position, an item comes once
in its latest state, pages and `next`, pruning and position_expired, and `data changes`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.support import Cli
from tokensync.errors import EXIT_POSITION_EXPIRED, EXIT_USAGE, PositionExpiredError
from tokensync.store import Store
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


def test_data_changes_prints_pages_and_jsonl_and_refuses_bad_or_expired_positions(
    store: Store, cli: Cli
) -> None:
    walk(store, {"a": 1, "b": 1, "c": 1}, generation=1)
    result = cli("data", "changes", "--limit", "2")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["success"] is True and doc["hasMore"] is True
    assert [c["itemKey"] for c in doc["changes"]] == ["a", "b"]
    assert doc["changes"][0] == {
        "position": doc["changes"][0]["position"],
        "op": "upsert",
        "userId": "u1",
        "platform": "discord",
        "endpoint": "user_guilds",
        "itemKey": "a",
        "data": {"id": "a", "v": 1},
        "changedAt": "2026-11-28T14:00:00Z",
    }
    rest = json.loads(cli("data", "changes", "--after", doc["next"]).out)
    assert [c["itemKey"] for c in rest["changes"]] == ["c"] and rest["hasMore"] is False
    assert json.loads(cli("data", "changes", "--user", "u2").out)["changes"] == []

    lines = [json.loads(x) for x in cli("data", "changes", "--format", "jsonl").out.splitlines()]
    assert [x["itemKey"] for x in lines] == ["a", "b", "c"]
    assert lines[-1]["next"] == rest["next"] and lines[-1]["hasMore"] is False
    assert "next" not in lines[0]

    bad = cli("data", "changes", "--after", "yesterday")
    assert bad.code == EXIT_USAGE and "not a position" in json.loads(bad.out)["error"]["message"]

    walk(store, {"a": 1}, generation=2, minute=1)
    assert store.prune_tombstones(NOW + timedelta(days=1), 100) == 2
    expired = cli("data", "changes", "--after", doc["next"])
    assert expired.code == EXIT_POSITION_EXPIRED
    assert json.loads(expired.out)["error"]["code"] == "position_expired"
    # `status` shows where a reader may still start: from there, no position_expired.
    oldest = json.loads(cli("status").out)["changes"]["oldestPosition"]
    assert oldest == store.oldest_position() != "0-0"
    assert cli("data", "changes", "--after", oldest).code == 0


@pytest.mark.parametrize("engine", ["postgres"])  # a function of the PostgreSQL schema
def test_the_sql_function_returns_the_pages_data_changes_prints(
    engine: str, store: Store, db_url: str, cli: Cli
) -> None:
    import psycopg

    postgres_url = db_url
    walk(store, {"a": 1, "b": 1, "c": 1}, generation=1)
    walk(store, {"a": 2, "c": 1}, generation=2, minute=1)

    def sql(after: str | None, most: int) -> dict[str, object]:
        with psycopg.connect(postgres_url, autocommit=True) as db:
            row = db.execute("SELECT tokensync_read_changes(%s, %s)", (after, most)).fetchone()
        assert row is not None
        return dict(row[0])

    def printed(after: str | None, most: int) -> dict[str, object]:
        extra = ["--after", after] if after else []
        out = cli("data", "changes", "--limit", str(most), *extra).out
        doc = json.loads(out)
        del doc["success"]
        return dict(doc)

    first = sql(None, 2)
    assert first == printed(None, 2) and first["hasMore"] is True
    rest = sql(str(first["next"]), 10)
    assert rest == printed(str(first["next"]), 10) and rest["hasMore"] is False
    assert store.prune_tombstones(NOW + timedelta(days=1), 100) == 1
    with (
        psycopg.connect(postgres_url, autocommit=True) as db,
        pytest.raises(psycopg.Error, match="position_expired") as raised,
    ):
        db.execute("SELECT tokensync_read_changes(%s, 10)", ("0-1",))
    assert raised.value.sqlstate == "TS001"

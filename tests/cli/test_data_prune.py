"""`tokensync data prune` as a user runs it, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.support import Cli, rows_of
from tokensync.connections.prune import prune
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

WHERE = ("u1", "discord", "user_guilds")


def tombstoned(db_url: str, gone: dict[str, timedelta | None]) -> None:
    """Items stored for WHERE; those with an age were tombstoned that long ago."""
    now = datetime.now(UTC)
    store = open_store(db_url)
    try:
        items = [StoredItem(key, {"id": key}) for key in gone]
        store.save_batch(*WHERE, BatchWrite(items, SyncCursor()), now - timedelta(days=90))
        for key, age in gone.items():
            if age is not None:
                store.save_batch(*WHERE, BatchWrite([], SyncCursor(), deleted=[key]), now - age)
    finally:
        store.close()


def test_prune_removes_the_old_tombstones_and_nothing_else(run_cli: Cli, db_url: str) -> None:
    tombstoned(
        db_url,
        {
            "old": timedelta(days=45),
            "older": timedelta(days=31),
            "recent": timedelta(days=29),
            "live": None,
        },
    )
    dry = run_cli("data", "prune", "--deleted-before", "30d", "--dry-run")
    assert dry.code == 0 and dry.json["wouldRemove"] == 2 and dry.json["dryRun"] is True
    assert set(rows_of(db_url, *WHERE)) == {"old", "older", "recent", "live"}, "a dry run"
    done = run_cli("data", "prune", "--deleted-before", "30d")
    assert done.code == 0 and done.json["success"] is True and done.json["removed"] == 2
    before = datetime.fromisoformat(done.json["deletedBefore"])
    assert abs(before - (datetime.now(UTC) - timedelta(days=30))) < timedelta(minutes=5)
    assert set(rows_of(db_url, *WHERE)) == {"recent", "live"}
    assert run_cli("data", "prune", "--deleted-before", "30d").json["removed"] == 0


def test_prune_removes_more_than_a_batch(db_url: str) -> None:
    tombstoned(db_url, {f"k{i}": timedelta(days=40) for i in range(5)})
    store = open_store(db_url)
    try:
        result = prune(store, before=datetime.now(UTC), dry_run=False, batch=2)
    finally:
        store.close()
    assert result.count == 5 and rows_of(db_url, *WHERE) == {}


@pytest.mark.parametrize("age", ["soon", "0s", "-3d"])
def test_a_bad_age_is_a_usage_error(run_cli: Cli, age: str) -> None:
    result = run_cli("data", "prune", "--deleted-before", age)
    assert result.code == 2 and result.json["success"] is False
    assert "--deleted-before" in result.json["error"]["message"]


def test_the_age_is_required(run_cli: Cli) -> None:
    result = run_cli("data", "prune")
    assert result.code == 2 and result.json["error"]["code"] == "usage_error"

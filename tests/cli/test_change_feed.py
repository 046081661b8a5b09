"""`data changes` on both engines: pages and JSON Lines, bad and expired positions, and the SQL
function that returns the pages it prints. The feed in the store is
tests/store/test_change_feed_store.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.store.test_change_feed_store import NOW, walk
from tests.support.support import Cli
from tokensync.errors import EXIT_POSITION_EXPIRED, EXIT_USAGE
from tokensync.store import Store


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

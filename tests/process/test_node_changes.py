"""readChanges of clients/node, through the database interface (no Python in the application),
on databases tokensync created, both engines (PostgreSQL as the application's granted role):
every page equals the one `tokensync data changes` prints (positions, data, deletes, `next`,
`hasMore`); an expired position and a string that is not one are refused with their codes; a
transaction still running holds the feed back, as in Python; and examples/node/mirror-changes.mjs
keeps a mirror equal to the live items, starting again once its position expired."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.process import test_node_client
from tests.support.processes import finish, tokensync
from tests.support.support import live_keys
from tokensync.store import Store, open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

# Node, its skip when missing, the database as the application reaches it:
# tests/process/test_node_client.py
pytestmark = test_node_client.pytestmark
app_db = test_node_client.app_db
node, NODE, PASSWORD = test_node_client.node, test_node_client.NODE, test_node_client.PASSWORD
as_role = test_node_client.as_role
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node" / "mirror-changes.mjs"
NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
GUILDS = ("u1", "discord", "user_guilds")
REPOS = ("u2", "github", "repos")


def walk(store: Store, where: tuple[str, str, str], data: dict[str, int], generation: int) -> None:
    """A whole snapshot of one endpoint: what it leaves out is tombstoned."""
    batch = BatchWrite(
        [StoredItem(k, {"id": k, "v": v}) for k, v in data.items()],
        SyncCursor(cursor=None, generation=generation),
        sweep="absent_from_snapshot",
        walking_from=generation - 1,
    )
    store.save_batch(*where, batch, NOW + timedelta(minutes=generation))


def cli_page(env: dict[str, str], after: str | None, limit: int) -> dict[str, Any]:
    args = ["data", "changes", "--limit", str(limit), *(["--after", after] if after else [])]
    code, document, err = finish(tokensync(args, env))
    assert code == 0, err
    document.pop("success")
    return dict(document)


def both_read_alike(
    env: dict[str, str], key: str, app_db: dict[str, str], after: str | None, limit: int
) -> str:
    """Page after page until none is left, Node and `data changes` hand out the same; the
    last `next`."""
    while True:
        page = node({"op": "changes", "after": after, "limit": limit}, key, app_db)
        printed = cli_page(env, after, limit)
        assert (page["changes"], page["hasMore"]) == (printed["changes"], printed["hasMore"])
        if page["hasMore"]:
            assert page["next"] == printed["next"]
        else:
            # Past the last change, `next` follows the database's horizon, which the other
            # transactions of the server (other tests') move on between two reads: either is a
            # right answer, no earlier than the last change.
            assert at_or_after(page["next"], page["changes"]), page
            assert at_or_after(printed["next"], printed["changes"]), printed
        after = max(page["next"], printed["next"], key=position)
        if not page["hasMore"]:
            return str(after)


def position(text: str) -> tuple[int, ...]:
    """A position's parts, to order two (they are opaque to readers, not to this test)."""
    return tuple(int(part) for part in text.split("-"))


def at_or_after(next_position: str, changes: list[dict[str, Any]]) -> bool:
    return all(position(next_position) >= position(c["position"]) for c in changes)


@pytest.fixture
def feed_store(db_url: str) -> Any:
    store = open_store(db_url)
    yield store
    store.close()


def test_node_reads_every_page_as_data_changes_prints_it(
    feed_store: Store, env: dict[str, str], key: str, app_db: dict[str, str]
) -> None:
    walk(feed_store, GUILDS, {"a": 1, "b": 1, "c": 1, "d": 1}, 1)
    walk(feed_store, REPOS, {"r1": 1, "r2": 1}, 1)
    first = both_read_alike(env, key, app_db, None, 3)
    walk(feed_store, GUILDS, {"a": 2, "c": 1, "e": 1}, 2)  # a changed, b and d gone, e new
    page = node({"op": "changes", "after": first, "limit": 10}, key, app_db)
    assert {(c["itemKey"], c["op"]) for c in page["changes"]} == {
        ("a", "upsert"),
        ("b", "delete"),
        ("d", "delete"),
        ("e", "upsert"),
    }
    gone = [c for c in page["changes"] if c["op"] == "delete"]
    assert all(c["deletedReason"] == "absent_from_snapshot" and "data" not in c for c in gone)
    last = both_read_alike(env, key, app_db, first, 2)
    # From the beginning: the current data set, live items and tombstones.
    assert position(both_read_alike(env, key, app_db, None, 1000)) >= position(last)
    empty = node({"op": "changes", "after": last}, key, app_db)
    assert (empty["changes"], empty["hasMore"]) == ([], False)
    assert position(empty["next"]) >= position(last)


def test_node_refuses_an_expired_position_and_one_it_did_not_hand_out(
    feed_store: Store, env: dict[str, str], key: str, app_db: dict[str, str]
) -> None:
    walk(feed_store, GUILDS, {"a": 1, "b": 1}, 1)
    old = node({"op": "changes", "limit": 1}, key, app_db)["next"]
    walk(feed_store, GUILDS, {"a": 1}, 2)
    assert feed_store.prune_tombstones(NOW + timedelta(days=1), 100) == 1
    expired = node({"op": "changes", "after": old}, key, app_db)
    assert expired["error"]["code"] == "position_expired", expired
    assert "from the beginning" in expired["error"]["message"]
    code, document, _ = finish(tokensync(["data", "changes", "--after", old], env))
    assert (code, document["error"]["code"]) == (4, "position_expired")
    for wrong in ("7421", "a-1", "-1-2", "01-2"):
        refused = node({"op": "changes", "after": wrong}, key, app_db)
        assert refused["error"]["code"] == "invalid_position", (wrong, refused)
    again = node({"op": "changes"}, key, app_db)
    assert [c["itemKey"] for c in again["changes"]] == ["a"]


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_transaction_still_running_holds_nodes_read_back(
    feed_store: Store, db_url: str, key: str, app_db: dict[str, str]
) -> None:
    held, other = open_store(db_url), open_store(db_url)
    try:
        with held.transaction():
            walk(held, GUILDS, {"early": 1}, 1)  # takes its transaction id first
            walk(other, REPOS, {"late": 1}, 1)  # commits first
            page = node({"op": "changes"}, key, app_db)
            assert page["changes"] == [] and not page["hasMore"]
        after = node({"op": "changes", "after": page["next"]}, key, app_db)
        assert {c["itemKey"] for c in after["changes"]} == {"early", "late"}
    finally:
        held.close()
        other.close()


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_role_not_granted_cannot_read_the_feed(db_url: str, app_db: dict[str, str]) -> None:
    with psycopg.connect(app_db["pg"], autocommit=True) as app:
        assert app.execute("SELECT tokensync_read_changes(NULL, 1)").fetchone() is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT * FROM user_platform_data")
    role = f"tsfeed_{os.getpid()}"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
    try:
        with (
            psycopg.connect(as_role(db_url, role), autocommit=True) as other,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            other.execute("SELECT tokensync_read_changes(NULL, 1)")
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{role}"')


def mirrored(app_db: dict[str, str], path: Path) -> dict[str, Any]:
    """Run the example once (until the feed is drained); the mirror's items by key."""
    source = app_db.get("pg") or app_db["sqlite"]
    done = subprocess.run(
        [str(NODE), str(EXAMPLE), source, str(path), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT item_key, data FROM items").fetchall()
    return {item: json.loads(data) for item, data in rows}


def test_the_node_example_mirrors_the_feed(
    feed_store: Store, db_url: str, app_db: dict[str, str], tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror.db"
    walk(feed_store, GUILDS, {"a": 1, "b": 1, "c": 1}, 1)
    assert mirrored(app_db, mirror) == {k: {"id": k, "v": 1} for k in "abc"}
    walk(feed_store, GUILDS, {"a": 2, "c": 1, "d": 1}, 2)
    assert mirrored(app_db, mirror) == {
        "a": {"id": "a", "v": 2},
        "c": {"id": "c", "v": 1},
        "d": {"id": "d", "v": 1},
    }
    walk(feed_store, GUILDS, {"a": 2}, 3)
    # b, c and d are pruned, c and d before the mirror read them: it starts again.
    assert feed_store.prune_tombstones(NOW + timedelta(days=1), 100) == 3
    assert mirrored(app_db, mirror) == {"a": {"id": "a", "v": 2}}
    assert set(mirrored(app_db, mirror)) == live_keys(db_url, *GUILDS)

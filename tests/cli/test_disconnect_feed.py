"""Removals in the change feed, both engines: `tokens disconnect` (without --keep-data, and run
again on what an earlier --keep-data left) makes each live item of the connection a tombstone
without data, handed out as a delete with deletedReason "disconnected" (a copy drops it), kept
until `data prune`; a connection made again polls its items back, a walk over several pages
included; `users erase` leaves nothing in the feed naming the user, and says user.erased."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx

from tests.cli.test_deletions_snapshots import repo_id, repos
from tests.support import payloads as p
from tests.support.support import Cli, rows_of, run_sql, seed, tombstones
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor
from tokensync.store.sqlite import sqlite_path

Mirror = dict[tuple[str, str, str, str], Any]
REPOS = ("u1", "github", "repos")
TABLE = "user_platform_data"


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """Every `cli` run here polls what is due at once."""
    config = tmp_path / "poll.toml"
    config.write_text('poll_interval = "0s"\n')
    return config


def read(cli: Cli, after: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Every change after `after` (from the beginning: None), and the position to go on from."""
    changes: list[dict[str, Any]] = []
    while True:
        page = cli("data", "changes", "--limit", "3", *(["--after", after] if after else [])).json
        changes += page["changes"]
        after = page["next"]
        if not page["hasMore"]:
            return changes, str(after)


def apply(mirror: Mirror, changes: list[dict[str, Any]]) -> Mirror:
    """A copy kept as examples/python/mirror_changes.py keeps it: live items only."""
    for c in changes:
        key = (c["userId"], c["platform"], c["endpoint"], c["itemKey"])
        if c["op"] == "upsert":
            mirror[key] = c["data"]
        else:
            mirror.pop(key, None)
    return mirror


def live(db_url: str, *where: str) -> Mirror:
    return {(*where, k): r.data for k, r in rows_of(db_url, *where).items() if not r.deleted_at}


def github(mock_http: respx.MockRouter, numbers: list[int]) -> None:
    """GitHub as it answers u1's polls: no events, these repositories, two to a page."""
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    mock_http.get(f"{p.GITHUB}/users/octocat/events").respond(200, json=[])
    mock_http.get(f"{p.GITHUB}/user/repos").mock(
        side_effect=lambda r: repos(numbers, per_page=2)(r)
    )


def guilds(db_url: str, user: str, keys: list[str]) -> None:
    """Discord guilds of `user` stored as a poll stores them."""
    store = open_store(db_url)
    batch = BatchWrite([StoredItem(k, {"id": k}) for k in keys], SyncCursor(cursor=None))
    store.save_batch(user, "discord", "user_guilds", batch, datetime.now(UTC))
    store.close()


def test_a_disconnect_hands_its_items_out_as_deletes_and_a_reconnect_polls_them_back(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "github"), expires_in=3600)
    guilds(db_url, "u2", ["g1", "g2"])
    numbers = [1, 2, 3, 4]
    github(mock_http, numbers)
    assert cli("poll-platforms").code == 0
    numbers.remove(4)  # the second walk tombstones it: absent_from_snapshot
    assert cli("poll-platforms").code == 0
    changes, position = read(cli)
    mirror = apply({}, changes)

    dry = cli("tokens", "disconnect", "--user", "u1", "--platform", "github", "--dry-run")
    assert dry.json["wouldDelete"]["user_platform_data"] == 3, "the live items"
    gone = cli("tokens", "disconnect", "--user", "u1", "--platform", "github", "--no-revoke")
    assert gone.code == 0, gone.out
    assert gone.json["deleted"] == {"connections": 1, "sync_state": 2, "user_platform_data": 3}

    changes, position = read(cli, position)
    assert sorted((c["itemKey"], c["op"], c.get("deletedReason")) for c in changes) == [
        (repo_id(n), "delete", "disconnected") for n in (1, 2, 3)
    ]
    assert all("data" not in c for c in changes)
    assert apply(mirror, changes) == live(db_url, "u2", "discord", "user_guilds")
    assert tombstones(db_url, *REPOS) == {
        **{repo_id(n): "disconnected" for n in (1, 2, 3)},
        repo_id(4): "absent_from_snapshot",
    }
    kept = rows_of(db_url, *REPOS)
    assert all(kept[repo_id(n)].data is None for n in (1, 2, 3)), "no data kept"
    everything, _ = read(cli)
    assert apply({}, everything) == mirror, "from the beginning: the same copy"

    # Connected again: one walk over two pages brings 1, 2 and 3 back, and 5 new.
    seed(cli, ("u1", "github"), expires_in=3600)
    numbers.append(5)
    assert cli("poll-platforms").code == 0
    changes, position = read(cli, position)
    assert sorted((c["itemKey"], c["op"]) for c in changes) == sorted(
        (repo_id(n), "upsert") for n in (1, 2, 3, 5)
    )
    assert tombstones(db_url, *REPOS) == {repo_id(4): "absent_from_snapshot"}
    assert apply(mirror, changes) == {
        **live(db_url, *REPOS),
        **live(db_url, "u2", "discord", "user_guilds"),
    }


def test_items_kept_by_keep_data_leave_the_feed_when_disconnected_again(
    cli: Cli, db_url: str
) -> None:
    seed(cli, ("u1", "discord"), expires_in=3600)
    guilds(db_url, "u1", ["g1", "g2"])
    _, position = read(cli)
    flags = ("--user", "u1", "--platform", "discord", "--no-revoke")
    kept = cli("tokens", "disconnect", *flags, "--keep-data")
    assert kept.json["deleted"]["user_platform_data"] == 0
    assert read(cli, position)[0] == [], "kept: still live, no change"

    dry = cli("tokens", "disconnect", *flags, "--dry-run")
    assert dry.json["connectionId"] is None and dry.json["wouldDelete"]["user_platform_data"] == 2
    done = cli("tokens", "disconnect", *flags)
    assert done.json["deleted"] == {"connections": 0, "sync_state": 0, "user_platform_data": 2}
    changes, position = read(cli, position)
    assert sorted((c["itemKey"], c["op"], c["deletedReason"]) for c in changes) == [
        ("g1", "delete", "disconnected"),
        ("g2", "delete", "disconnected"),
    ]
    again = cli("tokens", "disconnect", *flags)
    assert again.json["deleted"]["user_platform_data"] == 0 and read(cli, position)[0] == []

    # Kept until data prune removes them, as every tombstone.
    store = open_store(db_url)
    assert store.prune_tombstones(datetime.now(UTC) + timedelta(days=1), 100) == 2
    store.close()
    assert rows_of(db_url, "u1", "discord", "user_guilds") == {}
    expired = cli("data", "changes", "--after", "0-0")
    assert (expired.code, expired.json["error"]["code"]) == (4, "position_expired")


def test_an_erase_leaves_nothing_in_the_feed_naming_the_user(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "github"), expires_in=3600)
    github(mock_http, [1, 2, 3])
    assert cli("poll-platforms").code == 0
    cli("tokens", "disconnect", "--user", "u1", "--platform", "github", "--no-revoke")
    guilds(db_url, "u1", ["g1"])  # kept by an earlier --keep-data: live, no connection
    guilds(db_url, "u2", ["g2"])
    before, _ = read(cli)
    assert {c["userId"] for c in before} == {"u1", "u2"}

    erased = cli("users", "erase", "u1", "--no-revoke")
    assert erased.code == 0, erased.out
    assert erased.json["deleted"]["user_platform_data"] == 4
    after, _ = read(cli)
    assert [(c["userId"], c["itemKey"]) for c in after] == [("u2", "g2")]
    events = cli("events", "list", "--type", "user.erased").out.splitlines()
    assert [json.loads(line)["data"] for line in events] == [{"userId": "u1"}]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_migration_12_makes_the_sqlite_table_again_with_its_rows_counter_and_indexes(
    cli: Cli, db_url: str
) -> None:
    guilds(db_url, "u1", ["g1", "g2", "g3"])
    run_sql(db_url, "DELETE FROM user_platform_data WHERE item_key = 'g3'")  # the counter stays
    columns = "id, user_id, item_key, data, deleted_at, generation, change_txn"
    before = query_rows(db_url, f"SELECT {columns} FROM user_platform_data ORDER BY id")
    (counter,) = query_rows(db_url, "SELECT seq FROM sqlite_sequence WHERE name = ?", TABLE)
    run_sql(db_url, "DELETE FROM tokensync_schema WHERE version = 12")
    assert cli("db", "migrate").code == 0

    assert query_rows(db_url, f"SELECT {columns} FROM user_platform_data ORDER BY id") == before
    indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY 1"
    assert [n for (n,) in query_rows(db_url, indexes, TABLE) if not n.startswith("sqlite_")] == [
        "user_platform_data_changes",
        "user_platform_data_tombstones",
    ]
    assert query_rows(db_url, "SELECT seq FROM sqlite_sequence WHERE name = ?", TABLE) == [counter]
    guilds(db_url, "u1", ["g4"])
    (new_id,) = query_rows(db_url, "SELECT id FROM user_platform_data WHERE item_key = 'g4'")
    assert new_id[0] > counter[0], "an id is never used twice"
    cli("tokens", "disconnect", "--user", "u1", "--platform", "discord", "--no-revoke")
    assert set(tombstones(db_url, "u1", "discord", "user_guilds").values()) == {"disconnected"}


def query_rows(db_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(sqlite_path(db_url))) as db:
        return db.execute(sql, params).fetchall()

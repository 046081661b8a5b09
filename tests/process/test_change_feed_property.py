"""The change feed under concurrent writers, on both engines: real processes write polls of
platform data that changes between polls (tests/feed_writer.py) while a reader runs `tokensync
data changes` in a loop; once the writers stop and the reader drains, its mirror equals the
stored rows exactly. And, once, on PostgreSQL: a reader that hands out the last position it saw
in sequence order loses a change that commits late, where the feed does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import psycopg

from tests.support.processes import tokensync
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

WRITERS, ROUNDS = 4, 60
Key = tuple[str, str, str, str]


def stored(url: str) -> dict[Key, Any]:
    """Every stored item, tombstones included: its data, or ("deleted", reason)."""
    store = open_store(url, create=False)
    try:
        out: dict[Key, Any] = {}
        after: str | None = None
        while True:
            page = store.read_changes(after, limit=5000)
            for c in page.changes:
                key = (c.user_id, c.platform, c.endpoint, c.item_key)
                out[key] = c.data if c.op == "upsert" else ("deleted", c.deleted_reason)
            after = page.next
            if not page.has_more:
                return out
    finally:
        store.close()


def apply(mirror: dict[Key, Any], changes: list[dict[str, Any]]) -> None:
    for c in changes:
        key = (c["userId"], c["platform"], c["endpoint"], c["itemKey"])
        mirror[key] = c["data"] if c["op"] == "upsert" else ("deleted", c["deletedReason"])


def read(env: dict[str, str], after: str | None) -> dict[str, Any]:
    args = ["data", "changes", "--limit", "7", *(["--after", after] if after else [])]
    process = tokensync(args, env)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def test_a_reader_in_a_loop_mirrors_concurrent_writers_exactly(
    db_url: str, env: dict[str, str]
) -> None:
    store = open_store(db_url)
    store.migrate(datetime.now(UTC))
    store.close()
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.feed_writer",
                db_url,
                f"u{i}",
                str(i),
                str(ROUNDS),
            ],
            env={**os.environ, **env},
        )
        for i in range(WRITERS)
    ]
    mirror: dict[Key, Any] = {}
    after: str | None = None
    reads = 0
    positions: list[str] = []
    while any(w.poll() is None for w in writers) or reads == 0:
        page = read(env, after)
        apply(mirror, page["changes"])
        positions += [c["position"] for c in page["changes"]]
        after, reads = page["next"], reads + 1
    assert [w.returncode for w in writers] == [0] * WRITERS
    while True:  # drain
        page = read(env, after)
        apply(mirror, page["changes"])
        after = page["next"]
        if not page["hasMore"]:
            break
    truth = stored(db_url)
    assert len(truth) > WRITERS * 10
    assert mirror == truth
    assert reads > 1  # the reader did read while the writers wrote


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

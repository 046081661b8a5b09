"""The change feed under concurrent writers, on both engines: real processes write polls of
platform data that changes between polls (tests/support/feed_writer.py) while a reader runs
`tokensync data changes` in a loop; once the writers stop and the reader drains, its mirror
equals the stored rows exactly. A naive reader that loses a late commit, where the feed does not,
is in tests/store/test_change_feed_store.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.processes import tokensync
from tokensync.store import open_store

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
    db_url: str, env: dict[str, str], tmp_path: Path
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
                str(tmp_path),  # the gate: every writer waits halfway for a read
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
        halfway = [tmp_path / f"half-u{i}" for i in range(WRITERS)]
        if not (tmp_path / "go").exists() and all(h.exists() for h in halfway):
            # Every writer is alive and waiting halfway: read once then, whatever the load,
            # so that the reader surely reads while the writers write; then let them go.
            page = read(env, after)
            apply(mirror, page["changes"])
            positions += [c["position"] for c in page["changes"]]
            after, reads = page["next"], reads + 1
            (tmp_path / "go").touch()
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

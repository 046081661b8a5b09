"""examples/python/mirror_changes.py, run as a user would, keeps a second database equal to the
live polled items on both engines: a first read, a delta (an item changed, one gone, one new),
and a restart from the beginning once `data prune` expired its position."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.support import live_keys
from tokensync.store import Store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "mirror_changes.py"
NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
WHERE = ("u1", "discord", "user_guilds")


def walk(store: Store, data: dict[str, int], generation: int) -> None:
    batch = BatchWrite(
        [StoredItem(k, {"id": k, "v": v}) for k, v in data.items()],
        SyncCursor(cursor=None, generation=generation),
        sweep="absent_from_snapshot",
        walking_from=generation - 1,
    )
    store.save_batch(*WHERE, batch, NOW + timedelta(minutes=generation))


def mirrored(path: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(path), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT item_key, data FROM items").fetchall()
    return {key: json.loads(data) for key, data in rows}


def test_the_example_mirrors_the_feed(
    store: Store, db_url: str, env: dict[str, str], tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror.db"
    walk(store, {"a": 1, "b": 1, "c": 1}, 1)
    assert mirrored(mirror, env) == {k: {"id": k, "v": 1} for k in "abc"}
    walk(store, {"a": 2, "c": 1, "d": 1}, 2)
    assert mirrored(mirror, env) == {
        "a": {"id": "a", "v": 2},
        "c": {"id": "c", "v": 1},
        "d": {"id": "d", "v": 1},
    }
    walk(store, {"a": 2}, 3)
    # b, c and d are pruned, c and d before the mirror read them: it starts again.
    assert store.prune_tombstones(NOW + timedelta(days=1), 100) == 3
    assert mirrored(mirror, env) == {"a": {"id": "a", "v": 2}}
    assert set(mirrored(mirror, env)) == live_keys(db_url, *WHERE)

"""Mirror tokensync's polled data into a database of your own, change by change.

    TOKENSYNC_DATABASE_URL=... python examples/python/mirror_changes.py mirror.db [--once]

The mirror (a SQLite file here; any database will do) holds one row per item, and the feed's
position, which is saved in the same transaction as the changes it covers: a crash never loses
nor repeats a change. Each round reads pages of `TokenClient.changes` until none is left, then
waits for more (a `data.changed` webhook could wake it instead). A position too old for the feed
(`position_expired`: `data prune` removed tombstones the mirror never saw) empties the mirror and
reads again from the beginning. --once stops when the feed is drained.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time

from tokensync.client import ChangePage, open_client
from tokensync.errors import PositionExpiredError

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    user_id TEXT, platform TEXT, endpoint TEXT, item_key TEXT, data TEXT,
    PRIMARY KEY (user_id, platform, endpoint, item_key));
CREATE TABLE IF NOT EXISTS feed (one INTEGER PRIMARY KEY CHECK (one = 1), position TEXT);
"""


def apply(mirror: sqlite3.Connection, page: ChangePage) -> None:
    """A page's changes and its `next`, in one transaction."""
    with mirror:
        for c in page.changes:
            key = (c.user_id, c.platform, c.endpoint, c.item_key)
            if c.op == "upsert":
                mirror.execute(
                    "INSERT INTO items VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                    " data = excluded.data",
                    (*key, json.dumps(c.data, sort_keys=True)),
                )
            else:  # a delete: this copy drops the item (another could keep a tombstone)
                mirror.execute(
                    "DELETE FROM items WHERE user_id = ? AND platform = ? AND endpoint = ?"
                    " AND item_key = ?",
                    key,
                )
        mirror.execute("INSERT OR REPLACE INTO feed VALUES (1, ?)", (page.next,))


def main(path: str, once: bool) -> None:
    mirror = sqlite3.connect(path)
    mirror.executescript(SCHEMA)
    with open_client() as tokens:
        while True:
            row = mirror.execute("SELECT position FROM feed").fetchone()
            try:
                page = tokens.changes(after=row[0] if row else None, limit=500)
            except PositionExpiredError:
                with mirror:  # start again: the copy is rebuilt from the beginning
                    mirror.execute("DELETE FROM items")
                    mirror.execute("DELETE FROM feed")
                continue
            apply(mirror, page)
            if not page.has_more:
                if once:
                    return
                time.sleep(5)


if __name__ == "__main__":
    main(sys.argv[1], "--once" in sys.argv[2:])

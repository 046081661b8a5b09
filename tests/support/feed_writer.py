"""A writer of the change-feed property test (tests/process/test_change_feed_property.py), as a
process of its own: it stands for the poll runs of one user's connection, whose platform data change
between polls, and stores every poll's outcome through Store.save_batch, as the poll job does.

Each round changes the platform's data at random (items added, changed, removed) and stores a
poll of one endpoint: a delta page (the changed items and the deleted keys), a whole snapshot
walk (the endpoint's list, the rest swept as absent_from_snapshot) or a resync after a 410 (a
new walk from scratch, the rest swept as absent_after_resync). A random share of the rounds
holds its transaction open a moment before committing, so that on PostgreSQL the writers'
transactions commit in another order than they began.

    python -m tests.support.feed_writer URL USER SEED ROUNDS [GATE]

With GATE (a directory), halfway through its rounds the writer says so (GATE/half-USER) and waits
for GATE/go: the test reads the feed while every writer is alive and mid-way, whatever the load.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

ENDPOINTS = ("user_guilds", "repos")


# How long a writer waits at the gate before it carries on alone (the test failed to open it).
GATE_WAIT = 120.0


def main(url: str, user: str, seed: int, rounds: int, gate: Path | None = None) -> None:
    rng = random.Random(seed)
    store = open_store(url, create=False)
    platform_data: dict[str, dict[str, int]] = {e: {} for e in ENDPOINTS}
    generation = dict.fromkeys(ENDPOINTS, 0)
    serial = 0
    for done in range(rounds):
        if gate is not None and done == rounds // 2:
            wait_at(gate, user)
        endpoint = rng.choice(ENDPOINTS)
        live = platform_data[endpoint]
        added: dict[str, int] = {}
        for _ in range(rng.randint(0, 4)):
            serial += 1
            added[f"k{serial}"] = 1
        changed = {k: live[k] + 1 for k in rng.sample(sorted(live), min(len(live), 2))}
        removed = rng.sample(sorted(live), min(len(live), rng.randint(0, 2)))
        live.update(added)
        live.update(changed)
        for key in removed:
            del live[key]
        kind = rng.choice(("delta", "delta", "walk", "resync"))
        now = datetime.now(UTC)
        if kind == "delta":
            items = {**added, **changed}
            batch = BatchWrite(
                [StoredItem(k, {"id": k, "v": v}) for k, v in items.items()],
                SyncCursor(cursor=f"c{serial}", generation=generation[endpoint]),
                deleted=removed,
            )
        else:
            start = generation[endpoint]
            generation[endpoint] += 1
            batch = BatchWrite(
                [StoredItem(k, {"id": k, "v": v}) for k, v in live.items()],
                SyncCursor(cursor=None, generation=generation[endpoint]),
                sweep="absent_from_snapshot" if kind == "walk" else "absent_after_resync",
                walking_from=start,
            )
        with store.transaction():
            store.save_batch(user, "discord", endpoint, batch, now)
            if rng.random() < 0.3:
                time.sleep(rng.random() * 0.05)  # a slow commit: others commit before it
    store.close()


def wait_at(gate: Path, user: str) -> None:
    """Say this writer is halfway, and wait until the test opens the gate."""
    (gate / f"half-{user}").touch()
    deadline = time.monotonic() + GATE_WAIT
    while not (gate / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


if __name__ == "__main__":
    gate = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), gate)

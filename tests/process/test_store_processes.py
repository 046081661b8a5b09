"""The store under processes claiming at once, on both engines: four worker processes (spawned)
claim from the same moment and never share a row. The store contract in one process is
tests/store/test_store.py."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from tests.store.test_store import NOW, claim, tokens
from tokensync.store import Store, open_store


def _claim_all(url: str, owner: str, queue: Any, start: Any, done: Any) -> None:
    store = open_store(url)
    store.hold_lease_owner(owner)  # a live run: its leases are not taken from it
    got: list[int] = []
    start.wait(60)  # a barrier: every worker claims from the same moment
    while batch := claim(store, owner, limit=7):
        got.extend(c.id for c in batch)
        time.sleep(0.005)  # a worker does something with its batch; let the others in
    queue.put((owner, got))
    done.wait(60)  # every run lives until all are done (a finished run's leases are free)
    store.close()


def test_processes_claiming_at_once_never_share_a_row(store: Store, db_url: str) -> None:
    store.upsert_connections([tokens(f"u{i}") for i in range(300)], NOW)
    ctx = multiprocessing.get_context("spawn")
    queue, start, done = ctx.Queue(), ctx.Barrier(4), ctx.Barrier(4)
    workers = [
        ctx.Process(target=_claim_all, args=(db_url, f"w{i}", queue, start, done)) for i in range(4)
    ]
    for w in workers:
        w.start()
    results = dict(queue.get(timeout=60) for _ in workers)
    for w in workers:
        w.join(timeout=30)
    claimed = [i for ids in results.values() for i in ids]
    assert len(claimed) == 300 and len(set(claimed)) == 300
    assert sum(1 for ids in results.values() if ids) >= 2, "the work was shared"

"""Benchmarks of the change feed (`data changes`), on PostgreSQL and SQLite.

    python bench/changes.py                         # 10k, 100k and 1M items (several minutes)
    python bench/changes.py --sizes 1000,10000 --quick
    python bench/changes.py --database-url postgresql://...   # instead of a throwaway server

- read: `tokensync data changes --format jsonl` from the beginning, as a process of its own:
  items/s, and its peak RSS (VmHWM), which must stay flat as the feed grows (it streams pages);
- page: the cost of one page of 1,000 changes after a position in the middle of the feed, at
  1,000 items and at the largest size (the median of 20 reads, in-process);
- writes: what the positions cost the poll job's storage path (Store.save_batch, pages of 50
  items inserted then changed): this checkout against the commit it was made from (--base),
  each on a fresh database, alternated --repeat times; the median of each and their ratio.
Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from tests.support.pg_server import running_postgres  # noqa: E402

from bench.run import _PEAK_PRELUDE  # noqa: E402
from tokensync.store import open_store  # noqa: E402

Row = dict[str, Any]

# N items of 20 users, the shape a poll stores (spotify top tracks), one transaction.
FILL = """
INSERT INTO user_platform_data (user_id, platform, endpoint, item_key, data, first_seen_at,
    fetched_at, generation)
SELECT 'u' || (g % 20), 'spotify', 'top_tracks', 't' || g,
    ('{{"id": "t' || g || '", "name": "a track of some length", "popularity": 42}}'){cast},
    {now}, {now}, 1
FROM {series}
"""
# What the poll job's storage does, timed in a process of its own (on either checkout's code).
WRITER = """
import sys, time
from datetime import UTC, datetime
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor
url, users, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = open_store(url)
store.migrate(datetime.now(UTC))
started = time.perf_counter()
for r in range(rounds):
    for u in range(users):
        items = [StoredItem(f"t{i}", {"id": i, "rank": r, "name": "x" * 80}) for i in range(50)]
        batch = BatchWrite(items, SyncCursor(cursor=None, generation=0))
        store.save_batch(f"u{u}", "spotify", "top_tracks", batch, datetime.now(UTC))
print(users * rounds * 50 / (time.perf_counter() - started))
"""


def fresh(engine: str, pg_url: str, work: Path, name: str) -> str:
    """An empty database of this engine, by name."""
    if engine == "sqlite":
        path = work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def filled(engine: str, pg_url: str, work: Path, n: int) -> str:
    """A migrated database holding n items, all in the feed."""
    url = fresh(engine, pg_url, work, f"feed_{n}")
    store = open_store(url)
    from datetime import UTC, datetime

    store.migrate(datetime.now(UTC))
    store.close()
    if engine == "sqlite":
        import sqlite3

        series = (
            "(WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < "
            f"{n}) SELECT g FROM n)"
        )
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute(FILL.format(series=series, now="'2026-12-01T00:00:00.000000Z'", cast=""))
    else:
        with psycopg.connect(url, autocommit=True) as db:
            series = f"generate_series(1, {n}) AS g"
            db.execute(FILL.format(series=series, now="now()", cast="::jsonb"))
            db.execute("ANALYZE user_platform_data")
    return url


def read_all(url: str, n: int) -> Row:
    """`data changes --format jsonl` from the beginning, lines counted as they come."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        env = {**os.environ, "TOKENSYNC_DATABASE_URL": url, "BENCH_PEAK_FILE": peak.name}
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", _PEAK_PRELUDE, "data", "changes", "--format", "jsonl"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        lines = sum(1 for _ in process.stdout)
        assert process.wait() == 0
        wall = time.perf_counter() - started
        kib = int(peak.read().split()[0])
    assert lines == n, (lines, n)
    return {
        "items": n,
        "seconds": round(wall, 2),
        "itemsPerSecond": round(n / wall),
        "peakRssMiB": round(kib / 1024, 1),
    }


def page_cost(url: str, n: int) -> float:
    """Milliseconds for a page of 1,000 changes after the middle of the feed (median of 20)."""
    store = open_store(url)
    try:
        after: str | None = None
        if n > 2000:  # the middle: half the feed, read once to get there
            page = store.read_changes(None, limit=1)
            txn = page.changes[0].position.split("-")[0]
            after = f"{txn}-{n // 2}"
        times = []
        for _ in range(20):
            started = time.perf_counter()
            got = store.read_changes(after, limit=1000)
            times.append(time.perf_counter() - started)
            assert len(got.changes) == min(1000, n)
        return round(statistics.median(times) * 1000, 2)
    finally:
        store.close()


def writes(engine: str, pg_url: str, work: Path, base_src: Path, args: argparse.Namespace) -> Row:
    """save_batch items/s of this checkout and of --base, alternated on fresh databases."""
    ours, theirs = [], []
    for i in range(args.repeat):
        for src, out in ((ROOT / "src", ours), (base_src, theirs)):
            url = fresh(engine, pg_url, work, f"writes_{i}_{len(out)}_{src.name}")
            done = subprocess.run(
                [sys.executable, "-c", WRITER, url, str(args.write_users), str(args.write_rounds)],
                env={**os.environ, "PYTHONPATH": str(src)},
                capture_output=True,
                text=True,
                check=True,
            )
            out.append(float(done.stdout))
    new, old = statistics.median(ours), statistics.median(theirs)
    return {
        "itemsPerSecond": round(new),
        "baseItemsPerSecond": round(old),
        "ratio": round(new / old, 3),
        "runs": args.repeat,
    }


def main(argv: list[str] | None = None) -> Row:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--sqlite-sizes", default="10000,100000")
    parser.add_argument(
        "--base", help="the commit to compare writes with (default: the one before the feed)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write-users", type=int, default=200)
    parser.add_argument("--write-rounds", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL server's database to work in")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "changes.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.sqlite_sizes, args.repeat, args.write_users = "1000,5000", "1000", 1, 20
    sizes = {
        "postgres": [int(n) for n in args.sizes.split(",") if n],
        "sqlite": [int(n) for n in args.sqlite_sizes.split(",") if n],
    }
    results: Row = {}
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as started:
        work = Path(tmp)
        pg_url = args.database_url or started
        base = work / "base"
        base.mkdir()
        if args.base is None:  # the parent of the commit that added the feed's migration
            added = subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "log",
                    "--diff-filter=A",
                    "--format=%H",
                    "--",
                    "src/tokensync/store/migrations/postgres/0011_change_feed.sql",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            args.base = added.stdout.split()[-1] + "~1"
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.base, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for engine in ("postgres", "sqlite"):
            row: Row = {"read": [], "pageMs": {}}
            for n in sizes[engine]:
                url = filled(engine, pg_url, work, n)
                row["read"].append(read_all(url, n))
                row["pageMs"][str(n)] = page_cost(url, n)
            if 1000 not in sizes[engine]:
                row["pageMs"]["1000"] = page_cost(filled(engine, pg_url, work, 1000), 1000)
            row["writes"] = writes(engine, pg_url, work, base / "src", args)
            results[engine] = row
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

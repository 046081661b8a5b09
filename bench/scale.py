"""The million-connection scenario (`bench/run.py --scale`): what a run costs when the table is
large and little is due.

For each engine, a small table and a large one (PostgreSQL 1,000 and 1,000,000 connections,
SQLite 1,000 and 100,000), the same 1,000 connections due in both: the rows beyond the due ones
are written in SQL (valid for 30 days, never decrypted), the due ones go through `tokens import`.
Measured on each: a run with nothing due (its durationMs), the claim latency over a run (the
claims a run makes, timed one by one through the store), the rate of refreshing the 1,000 due,
`status` and `tokens list` (whole processes) and the refresh run's peak RSS.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from tests.support.processes import ProviderProcess

from bench.run import Database, discord_records, median, run_tokensync, seed
from tokensync.store import Filters, open_store
from tokensync.store.sqlite import sqlite_path, to_text

Row = dict[str, Any]
DUE = 1000
BATCH = 200

# The rows nobody needs to touch: valid for 30 days, refreshed an hour ago, polled a minute ago.
_FILLER = """
INSERT INTO connections (user_id, platform, access_token_enc, refresh_token_enc, token_type,
    expires_at, status, tokens_updated_at, next_poll_at, created_at, updated_at)
SELECT 'filler' || g, CASE g % 3 WHEN 0 THEN 'spotify' WHEN 1 THEN 'github' ELSE 'discord' END,
    'gAAAAA-filler-access', 'gAAAAA-filler-refresh', 'Bearer', {later}, 'active', {earlier},
    {later}, {earlier}, {earlier}
FROM {series}
"""


def fill(url: str, rows: int) -> float:
    """Write `rows` connections that are not due, in SQL; seconds it took."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    later, earlier = now + timedelta(days=30), now - timedelta(hours=1)
    if rows <= 0:
        return 0.0
    if url.startswith("sqlite"):
        series = (
            f"(WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < {rows}) "
            "SELECT g FROM n)"
        )
        sql = _FILLER.format(later="?", earlier="?", series=series)
        with sqlite3.connect(sqlite_path(url)) as db:
            e, lt = to_text(earlier), to_text(later)
            db.execute(sql, (lt, e, lt, e, e))
            db.execute("ANALYZE")
    else:
        sql = _FILLER.format(
            later="%(later)s",
            earlier="%(earlier)s",
            series=f"generate_series(1, {rows}) AS g",
        ).replace("g % 3", "g %% 3")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql, {"later": later, "earlier": earlier})
            conn.execute("VACUUM ANALYZE connections")
    return time.perf_counter() - started


def import_due(env: dict[str, str], provider: ProviderProcess, tag: str) -> float:
    """Import the DUE connections through `tokens import`; lines a second."""
    return DUE / seed(env, provider, discord_records(tag, DUE))


def expire_due(url: str, tag: str) -> None:
    """The DUE connections expire in a minute again."""
    when = datetime.now(UTC) + timedelta(minutes=1)
    like = f"{tag}%"
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as db:
            db.execute(
                "UPDATE connections SET expires_at = ? WHERE user_id LIKE ?", (to_text(when), like)
            )
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE connections SET expires_at = %s WHERE user_id LIKE %s", (when, like)
            )


def claim_latencies(url: str, rounds: int = 20) -> list[float]:
    """Claim what is due in batches, as a refresh run does, timing each claim, then release it
    all; `rounds` times over, so that a p99 means something."""
    times: list[float] = []
    for _ in range(rounds):
        times += _claim_round(url)
    return times


def _claim_round(url: str) -> list[float]:
    store = open_store(url)
    owner, times, claimed = "bench-claims", [], []
    # As a run does: its leases are alive while it is. Without it (since leases judge their owner
    # alive by its lock), a claim on SQLite took back this very round's rows, again and again.
    store.hold_lease_owner(owner)
    try:
        while True:
            now = datetime.now(UTC)
            started = time.perf_counter()
            batch = store.claim_due_refreshes(
                owner,
                now=now,
                lease_until=now + timedelta(minutes=5),
                due_before=now + timedelta(minutes=10),
                stale_before=now - timedelta(days=1),
                limit=BATCH,
                filters=Filters(),
                run_started=now,
            )
            times.append((time.perf_counter() - started) * 1000)
            if not batch:
                break
            claimed += [c.id for c in batch]
        store.release(claimed, owner)
    finally:
        store.close()
    return times


def wall(args: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall seconds of a tokensync command whose stdout is thrown away."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tokensync", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        times.append(time.perf_counter() - started)
    return median(times)


def scenario(
    url: str, total: int, env: dict[str, str], provider: ProviderProcess, repeat: int
) -> Row:
    """One table of `total` connections, DUE of them due."""
    env = {**env, "TOKENSYNC_DATABASE_URL": url}
    migrate = [sys.executable, "-m", "tokensync", "db", "migrate"]
    subprocess.run(migrate, env=env, check=True, capture_output=True)
    # Every run checks its key on the newest rows (by id) before it writes, and the filler's
    # tokens are no ciphertexts: five rows of real ones, not due, imported first and renumbered
    # past everything the table will hold.
    keyed = discord_records(f"keyed-{url.split(':')[0]}-{total}-", 5)
    seed(env, provider, [{**r, "expiresIn": 30 * 86400} for r in keyed])
    filled = fill(url, total - DUE)
    renumber = "UPDATE connections SET id = id + 100000000 WHERE user_id LIKE 'keyed-%'"
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as db:
            db.execute(renumber)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(renumber)
    noop = []
    # A no-op run takes a few milliseconds, as whole ones (durationMs): its median wants more
    # runs than the other figures before a ratio of two of them means anything.
    for _ in range(max(15, repeat)):
        document = run_tokensync(["refresh-tokens", "--results", "none"], env).document
        assert document.get("tokensChecked") == 0, document
        noop.append(document["durationMs"])
    tag = f"due-{url.split(':')[0]}-{total}-"  # refresh tokens unique to this table
    imported = import_due(env, provider, tag)
    claims = claim_latencies(url)
    rates, peaks = [], []
    for _ in range(repeat):
        expire_due(url, tag)
        _, document, peak, _ = run_tokensync(["refresh-tokens", "--results", "none"], env)
        assert document["tokensRefreshed"] == DUE, document
        rates.append(DUE / (document["durationMs"] / 1000))
        peaks.append(peak)
    stats = provider.stats()
    assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0, stats
    return {
        "connections": total,
        "fillSeconds": round(filled, 1),
        "noopMs": round(median(noop)),
        "claimMedianMs": round(statistics.median(claims), 2),
        "claimP99Ms": round(sorted(claims)[max(0, int(len(claims) * 0.99) - 1)], 2),
        "claims": len(claims),
        "refreshPerSecond": round(median(rates), 1),
        "importLinesPerSecond": round(imported),
        "statusMs": round(wall(["status"], env, repeat) * 1000),
        "tokensListMs": round(wall(["tokens", "list"], env, 1) * 1000),
        "peakRssMiB": round(median(peaks) / 1024, 1),
    }


def measure_scale(
    postgres_url: str,
    data: Path,
    env: dict[str, str],
    provider: ProviderProcess,
    args: Any,
) -> Row:
    """Small and large tables on both engines, and each large-to-small ratio."""
    results: Row = {}
    for engine, large in (("postgres", args.scale_total), ("sqlite", args.scale_sqlite_total)):
        rows = []
        for total in (DUE, large):
            if engine == "postgres":
                Database(postgres_url).reset()
                url = postgres_url
            else:
                url = f"sqlite:///{data / f'scale-{total}.db'}"
            rows.append(scenario(url, total, env, provider, args.repeat))
        small, big = rows
        results[engine] = {
            "small": small,
            "large": big,
            "noopRatio": round(big["noopMs"] / max(small["noopMs"], 1), 2),
            "refreshRatio": round(big["refreshPerSecond"] / small["refreshPerSecond"], 3),
        }
    return results


def table(scale: Row) -> list[str]:
    """The scale scenario's rows of the benchmark table."""
    lines = [
        "",
        "| engine | connections (1,000 due) | no-op run ms | claim median / p99 ms | "
        "due refreshes/s | import lines/s | status ms | tokens list ms | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, result in scale.items():
        for size in ("small", "large"):
            r = result[size]
            lines.append(
                f"| {engine} | {r['connections']:,} | {r['noopMs']} | {r['claimMedianMs']} / "
                f"{r['claimP99Ms']} | {r['refreshPerSecond']} | {r['importLinesPerSecond']} | "
                f"{r['statusMs']} | {r['tokensListMs']} | {r['peakRssMiB']} |"
            )
        lines.append(
            f"| {engine} | large / small | {result['noopRatio']}x | | "
            f"{result['refreshRatio']}x | | | | |"
        )
    return lines

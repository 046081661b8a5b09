"""The polling baseline a user who wrote the poller by hand would have: the pages tokensync's
poll fetches (bench/run.py's bare_polls), at the same concurrency, each page's items upserted into
PostgreSQL in one statement, keyed like user_platform_data, no encryption, no leases, no cursors,
no events. Polling is judged against this one (issue of the speed targets: 0.85 of it); the bare
fetcher that throws the pages away stays beside it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp
import orjson
import psycopg

from bench.run import POLL_PATHS

TABLE = """
CREATE TABLE IF NOT EXISTS bench_upserted (
    user_id TEXT NOT NULL, platform TEXT NOT NULL, endpoint TEXT NOT NULL, item_key TEXT NOT NULL,
    data JSONB NOT NULL, fetched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, platform, endpoint, item_key)
)
"""
UPSERT = """
INSERT INTO bench_upserted (user_id, platform, endpoint, item_key, data, fetched_at)
SELECT %(user)s, %(platform)s, %(endpoint)s, k, d, now()
FROM unnest(%(keys)s::text[], %(datas)s::jsonb[]) AS page(k, d)
ON CONFLICT (user_id, platform, endpoint, item_key) DO UPDATE
SET data = EXCLUDED.data, fetched_at = EXCLUDED.fetched_at
WHERE bench_upserted.data IS DISTINCT FROM EXCLUDED.data
"""


def _items(body: object) -> list[object]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return list(body["items"])
    return [body] if isinstance(body, dict) else []


def _key(item: object, n: int) -> str:
    if isinstance(item, dict):
        for field in ("id", "played_at", "login"):
            if field in item:
                return str(item[field])
    return str(n)


async def upsert_polls(
    url: str,
    db_url: str,
    users: Sequence[int],
    concurrency: int,
    platforms: Sequence[str] = tuple(POLL_PATHS),
) -> tuple[float, float]:
    """Fetch every connection's pages and upsert them; (polls/s, items/s)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE)
        conn.execute("TRUNCATE bench_upserted")
    pool: asyncio.Queue[psycopg.AsyncConnection[object]] = asyncio.Queue()
    for _ in range(min(concurrency, 16)):  # a database serves a few connections best
        pool.put_nowait(await psycopg.AsyncConnection.connect(db_url, autocommit=True))
    limit = asyncio.Semaphore(concurrency)
    stored = 0
    try:
        connector = aiohttp.TCPConnector(limit=concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def poll(user: int, platform: str) -> None:
                nonlocal stored
                async with limit:
                    for path in POLL_PATHS[platform]:
                        headers = {"Authorization": f"Bearer bench-at-{user}-0"}
                        target = url + path.format(u=user)
                        async with session.get(target, headers=headers) as response:
                            items = _items(orjson.loads(await response.read()))
                        if not items:
                            continue
                        # A connection of the pool for the statement only, not for the fetch.
                        conn = await pool.get()
                        try:
                            await conn.execute(
                                UPSERT,
                                {
                                    "user": f"p{user}",
                                    "platform": platform,
                                    "endpoint": path.split("?")[0],
                                    "keys": [_key(item, n) for n, item in enumerate(items)],
                                    "datas": [orjson.dumps(item).decode() for item in items],
                                },
                            )
                        finally:
                            pool.put_nowait(conn)
                        stored += len(items)

            jobs = [poll(u, p) for u in users for p in platforms]
            started = time.perf_counter()
            await asyncio.gather(*jobs)
            elapsed = time.perf_counter() - started
    finally:
        while not pool.empty():
            await pool.get_nowait().close()
    return len(jobs) / elapsed, stored / elapsed

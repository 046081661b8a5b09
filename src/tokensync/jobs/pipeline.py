"""Claim in batches, process concurrently: the loop both jobs run.

A producer claims the next batch while workers process the previous one, so the work in flight
stays near the concurrency asked for, and memory stays flat however many rows are due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from tokensync.errors import StorageError
from tokensync.jobs.runtime import StopSignal
from tokensync.store import Connection


async def claim_and_process(
    claim: Callable[[], Awaitable[Sequence[Connection]]],
    process: Callable[[Connection], Awaitable[bool]],
    *,
    concurrency: int,
    queue_size: int,
    stop: StopSignal,
) -> tuple[set[int], StorageError | None]:
    """Run until nothing is due or `stop` is set.

    `process` returns whether its own write ended the row's lease. Returns the ids still leased
    by this run (claimed and untouched, or skipped after a stop) for the caller to release, and
    the database error that stopped the claiming, if any.
    """
    queue: asyncio.Queue[Connection | None] = asyncio.Queue(maxsize=queue_size)
    held: set[int] = set()
    error: StorageError | None = None

    async def produce() -> None:
        nonlocal error
        try:
            while not stop.is_set:
                batch = await claim()
                if not batch:
                    return
                held.update(c.id for c in batch)
                for conn in batch:
                    await queue.put(conn)
        except StorageError as exc:
            error = exc
            stop.set("database_error")
        finally:
            for _ in range(concurrency):
                await queue.put(None)

    async def work() -> None:
        while (conn := await queue.get()) is not None:
            if stop.is_set:
                continue  # stay leased: released at the end
            if await process(conn):
                held.discard(conn.id)

    await asyncio.gather(produce(), *(work() for _ in range(concurrency)))
    return held, error

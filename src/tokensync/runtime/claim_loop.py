"""Claim in batches, process concurrently: the loop both jobs run.

A producer claims the next batch while workers process the previous one, so the work in flight
stays near the concurrency asked for, and memory stays flat however many rows are due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from tokensync.errors import StorageError
from tokensync.runtime.clock import Clock
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection

Renew = Callable[[Sequence[int]], Awaitable[set[int]]]
Release = Callable[[list[int]], Awaitable[None]]


async def claim_and_process(
    claim: Callable[[], Awaitable[Sequence[Connection]]],
    process: Callable[[Connection], Awaitable[bool]],
    release: Release,
    *,
    concurrency: int,
    queue_size: int,
    stop: StopSignal,
    clock: Clock,
    renew: Renew | None = None,
    renew_every: float = 60.0,
) -> StorageError | None:
    """Run until nothing is due or `stop` is set; return the database error that stopped it.

    `process` returns whether its own write ended the row's lease. With `renew`, the leases of
    every row still in this run's hands (queued, waiting on a platform's cap, or in flight) are
    renewed every `renew_every` seconds until the last worker is done, so that no wait, however
    long, lets a lease lapse under a row this run will still act on; a row whose renewal failed
    is no longer this run's and is skipped. At the end, the rows still leased by this run
    (claimed and untouched, or skipped after a stop) are handed to `release`, unless the
    database failed the run (the leases then lapse by themselves).
    """
    queue: asyncio.Queue[Connection | None] = asyncio.Queue(maxsize=queue_size)
    held: set[int] = set()
    lost: set[int] = set()
    error: StorageError | None = None

    async def keep_leases() -> None:
        nonlocal error
        assert renew is not None
        while True:
            await clock.after(renew_every)
            ids = sorted(held)
            try:
                renewed = await renew(ids)
            except StorageError as exc:
                error = error or exc
                stop.set("database_error")
                return
            gone = set(ids) - renewed
            lost.update(gone)
            held.difference_update(gone)

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
            if stop.is_set or conn.id in lost:
                continue  # stay leased: released at the end (or another run's now)
            if await process(conn):
                held.discard(conn.id)

    keeper = asyncio.ensure_future(keep_leases()) if renew is not None else None
    try:
        await asyncio.gather(produce(), *(work() for _ in range(concurrency)))
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
    if held and error is None:
        try:
            await release(sorted(held))
        except StorageError as exc:
            error = exc
    return error

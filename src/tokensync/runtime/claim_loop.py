"""Claim in batches, process concurrently: the loop both jobs run.

A producer claims the next batch while workers process the previous one, so the work in flight
stays near the concurrency asked for, and memory stays flat however many rows are due. What a job
claims and does with a row is its `Batches` (jobs/refresh_tokens.py, jobs/poll_platforms.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

from tokensync.errors import StorageError
from tokensync.runtime.clock import Clock
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection


class Batches(Protocol):
    """What one job claims, does with each row, and gives back."""

    async def claim(self) -> Sequence[Connection]:
        """The next batch, leased to this run; empty when nothing more is due."""
        ...

    async def process(self, conn: Connection) -> bool:
        """Act on one row; whether its own write ended the row's lease."""
        ...

    async def release(self, ids: list[int]) -> None:
        """Give back rows still leased to this run at the end."""
        ...


class Renewal(Protocol):
    """How a job keeps the leases of the rows in its hands while they wait."""

    every: float  # seconds between renewals

    async def renew(self, ids: Sequence[int]) -> set[int]:
        """Extend the leases of these rows; the ids still this run's."""
        ...


async def claim_and_process(
    batches: Batches,
    *,
    concurrency: int,
    queue_size: int,
    stop: StopSignal,
    clock: Clock,
    renewal: Renewal | None = None,
) -> StorageError | None:
    """Run until nothing is due or `stop` is set; return the database error that stopped it.

    With a `renewal`, the leases of every row still in this run's hands (queued, waiting on a
    platform's cap, or in flight) are renewed every `renewal.every` seconds until the last
    worker is done, so that no wait, however long, lets a lease lapse under a row this run will
    still act on; a row whose renewal failed is no longer this run's and is skipped. At the end,
    the rows still leased by this run (claimed and untouched, or skipped after a stop) are
    released, unless the database failed the run (the leases then lapse by themselves).
    """
    return await _ClaimLoop(batches, renewal, concurrency, queue_size, stop, clock).run()


class _ClaimLoop:
    """One run of the loop: a producer, `concurrency` workers and a lease keeper."""

    def __init__(
        self,
        batches: Batches,
        renewal: Renewal | None,
        concurrency: int,
        queue_size: int,
        stop: StopSignal,
        clock: Clock,
    ) -> None:
        self.batches, self.renewal = batches, renewal
        self.concurrency, self.stop, self.clock = concurrency, stop, clock
        self.queue: asyncio.Queue[Connection | None] = asyncio.Queue(maxsize=queue_size)
        self.held: set[int] = set()  # claimed and not yet let go by a write of its own
        self.lost: set[int] = set()  # renewal found another run holding them
        self.error: StorageError | None = None

    async def run(self) -> StorageError | None:
        renewal = self.renewal
        keeper = asyncio.ensure_future(self._keep_leases(renewal)) if renewal else None
        try:
            await asyncio.gather(self._produce(), *(self._work() for _ in range(self.concurrency)))
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
        if self.held and self.error is None:
            try:
                await self.batches.release(sorted(self.held))
            except StorageError as exc:
                self.error = exc
        return self.error

    async def _keep_leases(self, renewal: Renewal) -> None:
        while True:
            await self.clock.after(renewal.every)
            ids = sorted(self.held)
            try:
                renewed = await renewal.renew(ids)
            except StorageError as exc:
                self.error = self.error or exc
                self.stop.set("database_error")
                return
            gone = set(ids) - renewed
            self.lost.update(gone)
            self.held.difference_update(gone)

    async def _produce(self) -> None:
        try:
            while not self.stop.is_set:
                batch = await self.batches.claim()
                if not batch:
                    return
                self.held.update(c.id for c in batch)
                for conn in batch:
                    await self.queue.put(conn)
        except StorageError as exc:
            self.error = exc
            self.stop.set("database_error")
        finally:
            for _ in range(self.concurrency):
                await self.queue.put(None)

    async def _work(self) -> None:
        while (conn := await self.queue.get()) is not None:
            if self.stop.is_set or conn.id in self.lost:
                continue  # stay leased: released at the end (or another run's now)
            if await self.batches.process(conn):
                self.held.discard(conn.id)

"""Ending poll leases in groups, off the polls' way: a poll hands its connection over and takes
the next, and one statement ends the leases of every poll that finished while the previous one
ran (Store.finish_polls).

A poll's own writes were awaited before it hands its connection over, and the store runs its
calls one at a time in order, so a lease never ends before the writes of its poll. The run waits
for the last group (`drain`) before it ends; a run killed before a group is written leaves those
leases to lapse by themselves, like the lease of a poll in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tokensync.errors import StorageError
from tokensync.runtime.async_store import AsyncStore
from tokensync.runtime.clock import Clock


class PollFinishes:
    """The poll leases this run has still to end, written a group at a time."""

    def __init__(
        self, db: AsyncStore, owner: str, clock: Clock, failed: Callable[[StorageError], None]
    ) -> None:
        self.db, self.owner, self.clock, self.failed = db, owner, clock, failed
        self._pending: list[tuple[int, bool]] = []  # (connection id, whether its poll succeeded)
        self._writer: asyncio.Future[None] | None = None

    def add(self, connection_id: int, success: bool) -> None:
        """End this connection's poll lease soon (a success also sets its last_sync_at)."""
        self._pending.append((connection_id, success))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def drain(self) -> None:
        """Wait until every lease handed over is ended (or its write failed)."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    async def _write(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                await self.db.call(
                    self.db.store.finish_polls, group, self.owner, now=self.clock.now()
                )
            except StorageError as exc:
                self.failed(exc)

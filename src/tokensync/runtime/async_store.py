"""The store off the event loop: its calls run on one thread of their own, each with a bound.

The refreshes' lease checks and saves, two a token, are also gathered: those that arrive while the
database thread is busy go together in its next call (Engine.write_rows), one hop to the thread
and, on PostgreSQL, one round trip for all, instead of one each. None waits for a batch to fill:
a write goes at once when the thread is free, and the ones that came meanwhile go right after.

A lease check is made while its row holds a request slot, just before the request: given a
connection of its own (`checks`), it never queues behind saves, claims or a run's bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from tokensync.errors import DatabaseTimeoutError, StorageError
from tokensync.store import Store
from tokensync.store.engine import RowWrite

P = ParamSpec("P")
T = TypeVar("T")


class AsyncStore:
    """Runs a store's calls on one thread of their own, one at a time, off the event loop.

    Each call is bounded by `timeout` on this side: a database host that stops answering (a
    server frozen, a network that drops packets silently) never holds a run, since a server-side
    statement timeout cannot fire on a server that is not running. The first call that overruns
    leaves the thread stuck in the driver; the store is then `hung`, and every later call fails at
    once instead of queueing behind it.
    """

    def __init__(
        self, store: Store, *, timeout: float | None = None, checks: Store | None = None
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.hung: StorageError | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokensync-db")
        self._writes: list[tuple[RowWrite, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None
        # The lease checks' own connection and thread, if any (their own bound and hung state).
        self.checks = AsyncStore(checks, timeout=timeout) if checks is not None else None

    async def check_row(self, write: RowWrite) -> bool:
        """Await a lease check (store/refreshing.py: lease_check) on the checks' connection when
        there is one, gathered like write_row: whether it touched its row."""
        if self.checks is not None:
            return await self.checks.write_row(write)
        return await self.write_row(write)

    async def write_row(self, write: RowWrite) -> bool:
        """Await one single-row statement (store/refreshing.py: lease_check, refreshed_save),
        sent together with those that arrive meanwhile: whether it touched its row."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._writes.append((write, done))
        if self._writing is None:
            self._writing = loop.create_task(self._write_gathered())
        return await done

    async def _write_gathered(self) -> None:
        batch: list[tuple[RowWrite, asyncio.Future[bool]]] = []
        try:
            while self._writes:
                # A write whose caller gave up before it went is never sent (as a call's job
                # that has not started is not run).
                batch = [(w, f) for w, f in self._writes if not f.done()]
                self._writes = []
                if not batch:
                    continue
                try:
                    touched = await self.call(self.store.write_rows, [w for w, _ in batch])
                except Exception as exc:
                    for _, waiting in batch:
                        if not waiting.done():
                            waiting.set_exception(exc)
                    continue
                for (_, waiting), result in zip(batch, touched, strict=True):
                    if not waiting.done():
                        waiting.set_result(result)
        finally:
            self._writing = None
            # Cancelled (the loop is closing): nobody will answer these callers.
            for _, waiting in batch + self._writes:
                if not waiting.done():
                    waiting.cancel()
            self._writes = []

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await fn(*args, **kwargs) run on the database thread."""
        if self.hung is not None:
            raise self.hung
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._thread, lambda: fn(*args, **kwargs))
        if self.timeout is None:
            return await future
        try:
            # asyncio.timeout, not wait_for: the same bound for a fraction of the bookkeeping,
            # on a call made several times for every token.
            async with asyncio.timeout(self.timeout):
                return await future
        except TimeoutError:
            self.hung = self.hung or DatabaseTimeoutError(
                f"the database did not answer within {self.timeout:g} s"
            )
            raise self.hung from None

    def close(self) -> None:
        """Stop the database threads (the stores stay open); never wait on a hung one."""
        self._thread.shutdown(wait=self.hung is None, cancel_futures=True)
        if self.checks is not None:
            self.checks.close()

"""The store off the event loop: its calls run on one thread of their own, each with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from tokensync.errors import DatabaseTimeoutError, StorageError
from tokensync.store import Store

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

    def __init__(self, store: Store, *, timeout: float | None = None) -> None:
        self.store = store
        self.timeout = timeout
        self.hung: StorageError | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokensync-db")

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
        """Stop the database thread (the store itself stays open); never wait on a hung one."""
        self._thread.shutdown(wait=self.hung is None, cancel_futures=True)

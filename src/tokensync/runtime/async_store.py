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
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from tokensync.errors import DatabaseTimeoutError, StorageError
from tokensync.store import Store
from tokensync.store.engine import RowWrite

P = ParamSpec("P")
T = TypeVar("T")
# What one call of writes did: the writes it sent, whether each touched its row, or its error.
_Written = tuple[list[tuple[RowWrite, "asyncio.Future[bool]"]], list[bool], Exception | None]


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
        self._writing = False  # a call of writes is on the database thread, or queued for it
        self._lock = threading.Lock()  # over _writes, which the database thread takes
        self._in_flight: list[tuple[RowWrite, asyncio.Future[bool]]] = []
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
        if self.hung is not None:
            raise self.hung
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        with self._lock:
            self._writes.append((write, done))
        if not self._writing:
            self._send_writes(loop)
        return await done

    def _send_writes(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have the database thread send the writes waiting when it comes to them, as one call;
        when it ends, its answers are given and the writes that came meanwhile sent, in the same
        callback: no task to wake, no turn of the loop between a batch and the next."""
        try:
            sent = self._thread.submit(self._write_waiting)
        except RuntimeError:  # the store was closed
            self._fail_waiting(asyncio.CancelledError())
            return
        self._writing = True
        overrun = loop.call_later(self.timeout, self._overran) if self.timeout is not None else None

        def written(_: Future[_Written]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to hear
                loop.call_soon_threadsafe(self._written, loop, sent, overrun)

        sent.add_done_callback(written)

    def _write_waiting(self) -> _Written:
        """On the database thread: every write waiting now, in one call."""
        with self._lock:
            taken, self._writes = self._writes, []
        # A write whose caller gave up before it went is never sent (as a call's job that has
        # not started is not run).
        batch = self._in_flight = [(w, f) for w, f in taken if not f.done()]
        if not batch:
            return batch, [], None
        try:
            return batch, self.store.write_rows([w for w, _ in batch]), None
        except Exception as exc:  # each caller hears it, as from a call of its own
            return batch, [], exc

    def _written(
        self,
        loop: asyncio.AbstractEventLoop,
        sent: Future[_Written],
        overrun: asyncio.TimerHandle | None,
    ) -> None:
        self._writing = False
        if overrun is not None:
            overrun.cancel()
        if self.hung is not None or sent.cancelled():
            # Overran (its callers were told then), or the store was closed before it went.
            self._fail_waiting(self.hung or asyncio.CancelledError())
            return
        batch, answers, error = sent.result()
        for i, (_, waiting) in enumerate(batch):
            if waiting.done():
                continue
            if error is not None:
                waiting.set_exception(error)
            else:
                waiting.set_result(answers[i])
        if self._writes:
            self._send_writes(loop)

    def _overran(self) -> None:
        self.hung = self.hung or DatabaseTimeoutError(
            f"the database did not answer within {self.timeout:g} s"
        )
        self._fail_waiting(self.hung)

    def _fail_waiting(self, error: BaseException) -> None:
        """Tell every write not yet answered (in the database thread's hands or waiting)."""
        with self._lock:
            waiting, self._writes = self._in_flight + self._writes, []
        for _, future in waiting:
            if future.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)

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

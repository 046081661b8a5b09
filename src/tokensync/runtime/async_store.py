"""The store off the event loop: its calls run on one thread of their own, each with a bound.

The refreshes' lease checks and saves, two a token, are also gathered: those that arrive while the
database thread is busy go together in its next call (Engine.write_rows), one round trip on
PostgreSQL for all, instead of one each. None waits for a batch to fill: a write goes at once when
the thread is free, and the ones that came meanwhile go right after.

The thread takes its next work itself, as soon as it is free, and answers each batch with one
call into the event loop. A batch costs the loop no task, executor job or timer of its own: while
a wave of answers keeps the loop busy, a check must not also wait for the loop to start it.

A lease check is made while its row holds a request slot, just before the request: given a
connection of its own (`checks`), it never queues behind saves, claims or a run's bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from tokensync.errors import DatabaseTimeoutError, StorageError
from tokensync.store import Store
from tokensync.store.engine import RowWrite

P = ParamSpec("P")
T = TypeVar("T")

# One piece of work for the database thread, and the future its caller awaits. The future's type
# differs from call to call (a call returns what its function does), hence Any inside this module.
_Job = tuple[RowWrite | Callable[[], object], "asyncio.Future[Any]"]
# The thread's answer to one job: the job's future and its result, or the exception it raised.
_Answer = tuple["asyncio.Future[Any]", object, BaseException | None]


class AsyncStore:
    """Runs a store's calls on one thread of their own, one at a time, off the event loop.

    Each call is bounded by `timeout` on this side, counted from when the thread starts it: a
    database host that stops answering (a server frozen, a network that drops packets silently)
    never holds a run, since a server-side statement timeout cannot fire on a server that is not
    running. The first call that overruns leaves the thread stuck in the driver; the store is then
    `hung`, every call waiting on it fails, and every later call fails at once.
    """

    def __init__(
        self, store: Store, *, timeout: float | None = None, checks: Store | None = None
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.hung: StorageError | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._busy_since: float | None = None  # when the thread began its current batch
        self._waiting: set[asyncio.Future[Any]] = set()  # asked and not yet answered
        self._watch: asyncio.TimerHandle | None = None
        self._watched: asyncio.AbstractEventLoop | None = None
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
        sent together with those that arrive meanwhile: whether it touched its row. A write whose
        caller gave up before it went is never sent."""
        answer: bool = await self._submit(write)
        return answer

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await fn(*args, **kwargs) run on the database thread."""
        answer: T = await self._submit(lambda: fn(*args, **kwargs))
        return answer

    def _submit(self, work: RowWrite | Callable[[], object]) -> asyncio.Future[Any]:
        if self.hung is not None:
            raise self.hung
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.add(future)
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="tokensync-db", daemon=True)
            self._thread.start()
        self._jobs.put((work, future))
        if self.timeout is not None and (self._watch is None or self._watched is not loop):
            # One timer a store, not one a call: it looks at the thread's progress every bound.
            self._watch, self._watched = (
                loop.call_later(self.timeout, self._check_progress, loop),
                loop,
            )
        return future

    # -- the event loop's side ---------------------------------------------------------------

    def _answer(self, answers: list[_Answer]) -> None:
        for future, result, error in answers:
            self._waiting.discard(future)
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _check_progress(self, loop: asyncio.AbstractEventLoop) -> None:
        """The bound: fail every waiting call once the thread's current batch has overrun."""
        self._watch = None
        if not self._waiting or self.timeout is None:
            return
        started, now = self._busy_since, time.monotonic()
        if started is not None and now - started >= self.timeout:
            self.hung = DatabaseTimeoutError(
                f"the database did not answer within {self.timeout:g} s"
            )
            waiting, self._waiting = self._waiting, set()
            for future in waiting:
                if not future.done():
                    future.set_exception(self.hung)
            return
        wait = self.timeout if started is None else started + self.timeout - now
        self._watch = loop.call_later(wait, self._check_progress, loop)

    # -- the database thread's side ----------------------------------------------------------

    def _serve(self) -> None:
        ahead: list[_Job | None] = []  # taken from the queue, not yet served
        while True:
            job = ahead.pop() if ahead else self._jobs.get()
            if job is None:
                return
            if not isinstance(job[0], RowWrite):
                self._run([job], self._call)
                continue
            # The writes that came while the thread was busy go together; a call after them
            # waits for the next turn, in the order it was asked.
            batch = [job]
            while not ahead:
                try:
                    following = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if following is None or not isinstance(following[0], RowWrite):
                    ahead.append(following)
                else:
                    batch.append(following)
            self._run(batch, self._write_rows)

    def _call(self, jobs: list[_Job]) -> list[object]:
        return [fn() for fn, _ in jobs if not isinstance(fn, RowWrite)]

    def _write_rows(self, jobs: list[_Job]) -> list[bool]:
        return self.store.write_rows([w for w, _ in jobs if isinstance(w, RowWrite)])

    def _run(self, jobs: list[_Job], work: Callable[[list[_Job]], list[Any]]) -> None:
        """Run `work` for the jobs whose callers still wait (each one's result, in order), and
        answer every job on its loop; one given up before it went is not sent."""
        going = [job for job in jobs if not job[1].done()]
        answers: list[_Answer] = [(f, None, None) for _, f in jobs if f.done()]
        if going and (self._closing or self.hung is not None):
            closed = self.hung or StorageError("the database connection is closed")
            answers += [(f, None, closed) for _, f in going]
        elif going:
            self._busy_since = time.monotonic()
            try:
                results = work(going)
            except BaseException as exc:  # every caller hears it, as from a call of its own
                answers += [(f, None, exc) for _, f in going]
            else:
                answers += [(f, r, None) for (_, f), r in zip(going, results, strict=True)]
            finally:
                self._busy_since = None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to hear
            jobs[0][1].get_loop().call_soon_threadsafe(self._answer, answers)

    def close(self) -> None:
        """Stop the database threads (the stores stay open); never wait on a hung one."""
        self._closing = True
        if self._thread is not None:
            self._jobs.put(None)
            if self.hung is None:
                self._thread.join()
        if self.checks is not None:
            self.checks.close()

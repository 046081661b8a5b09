"""What both jobs run on: the database off the event loop, a clock, a stop signal, back-off."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

from tokensync.errors import DatabaseTimeoutError, StorageError
from tokensync.store import Store

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def new_run_id(command: str) -> str:
    """A unique name for this run, also the owner of its leases."""
    return f"{command}-{uuid.uuid4().hex[:12]}"


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
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self.hung = self.hung or DatabaseTimeoutError(
                f"the database did not answer within {self.timeout:g} s"
            )
            raise self.hung from None

    def close(self) -> None:
        """Stop the database thread (the store itself stays open); never wait on a hung one."""
        self._thread.shutdown(wait=self.hung is None, cancel_futures=True)


class StopSignal:
    """Set by SIGTERM / SIGINT, by --max-duration, or by a fatal error: stop claiming work."""

    def __init__(self, clock: Clock, max_duration: float | None) -> None:
        self._event = asyncio.Event()
        self.reason: str | None = None
        self._deadline = clock() + timedelta(seconds=max_duration) if max_duration else None
        self._clock = clock

    def set(self, reason: str) -> None:
        """Ask the run to stop claiming new work."""
        if self.reason is None:
            self.reason = reason
        self._event.set()

    @property
    def is_set(self) -> bool:
        """Whether the run must stop claiming (the deadline counts)."""
        if not self._event.is_set() and self._deadline and self._clock() >= self._deadline:
            self.set("max_duration")
        return self._event.is_set()

    async def wait(self) -> None:
        """Return once stopped."""
        await self._event.wait()

    async def sleep(self, seconds: float) -> bool:
        """Sleep, cut short by a stop; return whether the whole time passed unstopped."""
        if seconds > 0 and not self.is_set:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), seconds)
        return not self.is_set

    async def acquire(self, limit: asyncio.Semaphore) -> bool:
        """Take a place under `limit` unless the run stops first; return whether it was taken."""
        if not limit.locked():
            await limit.acquire()
            return True
        taking = asyncio.ensure_future(limit.acquire())
        stopping = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({taking, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not taking.done():
                taking.cancel()
        return taking.done() and not taking.cancelled()

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        """Turn SIGTERM and SIGINT into a graceful stop while the block runs."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.set, sig.name.lower())
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signals here: nothing to install
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


def backoff(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter over the upper half: base * 2^(n-1), capped."""
    ceiling = min(cap, base * 2 ** max(failures - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)

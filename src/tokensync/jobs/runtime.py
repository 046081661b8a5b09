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
    """Runs a store's calls on one thread of their own, one at a time, off the event loop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokensync-db")

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await fn(*args, **kwargs) run on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        """Stop the database thread (the store itself stays open)."""
        self._thread.shutdown(wait=True)


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

"""Stopping a run: SIGTERM and SIGINT, --max-duration, or a fatal error stop the claiming."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any

from tokensync.runtime.clock import Clock
from tokensync.runtime.limits import Slots


class StopSignal:
    """Set by SIGTERM / SIGINT, by --max-duration, or by a fatal error: stop claiming work."""

    def __init__(self, clock: Clock, max_duration: float | None) -> None:
        self._event = asyncio.Event()
        self.reason: str | None = None
        self._deadline = clock.now() + timedelta(seconds=max_duration) if max_duration else None
        self._clock = clock
        self._waiting: set[asyncio.Future[bool]] = set()

    def set(self, reason: str) -> None:
        """Ask the run to stop claiming new work."""
        if self.reason is None:
            self.reason = reason
        self._event.set()
        for place in self._waiting:  # each waiting for a slot (acquire): none is taken now
            if not place.done():
                place.set_result(False)

    @property
    def is_set(self) -> bool:
        """Whether the run must stop claiming (the deadline counts)."""
        if not self._event.is_set() and self._deadline and self._clock.now() >= self._deadline:
            self.set("max_duration")
        return self._event.is_set()

    def remaining(self) -> float | None:
        """Seconds until --max-duration ends the run (None: no deadline; 0 once past it)."""
        if self._deadline is None:
            return None
        return max((self._deadline - self._clock.now()).total_seconds(), 0.0)

    async def wait(self) -> None:
        """Return once stopped."""
        await self._event.wait()

    async def sleep(self, seconds: float) -> bool:
        """Sleep on the clock, cut short by a stop; return whether the whole time passed."""
        if seconds > 0 and not self.is_set:
            await self._unless_stopped(self._clock.sleep(seconds))
        return not self.is_set

    async def acquire(self, limit: Slots) -> bool:
        """Take a place under `limit` unless the run stops first; return whether it was taken."""
        if self._event.is_set():
            return False
        return await limit.take(self._waiting)

    async def _unless_stopped(self, waiting: Coroutine[Any, Any, object]) -> bool:
        """Await `waiting` until it ends or the run stops; return whether it ended."""
        task = asyncio.ensure_future(waiting)
        stopping = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
        return task.done() and not task.cancelled()

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

"""Time as the jobs see it: the wall clock for what is stored, a monotonic one, and waiting.

Passed in, never read from the system directly, so that a test can hand a job a fake clock and
make time pass without waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What a job asks of time."""

    def now(self) -> datetime:
        """The current UTC time (what is stored, and what leases and back-offs count from)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, for measuring how long something took."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Pause the caller's work this long (a fake clock moves time forward at once)."""
        ...

    async def after(self, seconds: float) -> None:
        """Return once this much time has passed by other means: a heartbeat's timer, which a
        fake clock fires only when something else moved time past it."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """datetime.now(UTC)."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """asyncio.sleep."""
        await asyncio.sleep(max(seconds, 0.0))

    async def after(self, seconds: float) -> None:
        """asyncio.sleep: on the real clock, time passes by itself."""
        await asyncio.sleep(max(seconds, 0.0))

"""Caps on the work in flight: one per platform, shared by everything a run sends to it, and a
run's own (its --concurrency).

A poll holds its platform's slot for all of a connection's requests, the refresh of its token
included: refreshing and polling together never exceed a platform's `concurrency`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

from tokensync.platforms.catalog import Platform


class Slots:
    """A number of places for work in flight, handed to the waiters in the order they came.

    Not asyncio.Semaphore: a waiter must also be woken, with no place, when its run stops
    (StopSignal.acquire), and waiting on a semaphore and a stop together took two more tasks and
    three more turns of the loop for every place a full run waits for; here a place given back
    wakes the next waiter in one. A waiter waits on a future of its own in `waiters` (the stop's):
    resolving it False there ends the wait with no place taken.
    """

    def __init__(self, places: int) -> None:
        self._free = places
        self._queue: deque[asyncio.Future[bool]] = deque()

    async def take(self, waiters: set[asyncio.Future[bool]] | None = None) -> bool:
        """Take a place, waiting in turn for one; False when the wait was ended (see above)."""
        if self._free > 0:  # a free place means nobody waits: one given back goes to a waiter
            self._free -= 1
            return True
        place: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(place)
        if waiters is not None:
            waiters.add(place)
        try:
            return await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled() and place.result():
                self.give_back()  # handed a place just as the waiter was cancelled
            raise
        finally:
            if waiters is not None:
                waiters.discard(place)

    def give_back(self) -> None:
        """Give a place back: to the first waiter still waiting, or to the free ones."""
        while self._queue:
            place = self._queue.popleft()
            if not place.done():
                place.set_result(True)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.take()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.give_back()


class PlatformLimits:
    """The slots of each platform, made on first use."""

    def __init__(self) -> None:
        self._limits: dict[str, Slots] = {}

    def of(self, platform: Platform) -> Slots:
        """The cap of one platform."""
        limit = self._limits.get(platform.name)
        if limit is None:
            limit = self._limits[platform.name] = Slots(platform.concurrency)
        return limit

"""One cap per platform on the work in flight, shared by everything a run sends to it.

A poll holds its platform's slot for all of a connection's requests, the refresh of its token
included: refreshing and polling together never exceed a platform's `concurrency`.
"""

from __future__ import annotations

import asyncio

from tokensync.platforms.catalog import Platform


class PlatformLimits:
    """A semaphore per platform, made on first use."""

    def __init__(self) -> None:
        self._limits: dict[str, asyncio.Semaphore] = {}

    def of(self, platform: Platform) -> asyncio.Semaphore:
        """The cap of one platform."""
        return self._limits.setdefault(platform.name, asyncio.Semaphore(platform.concurrency))

"""Driving one adapter directly, with no run around it: a fake token source, a recording sleep.

Only the adapter tests use these; what every test shares is in tests/support/support.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from tokensync.errors import PermanentError
from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Endpoint, PollContext, SyncState

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


class FakeTokens:
    """Hands out 'old' until refreshed, then 'new'; refuses refresh when told the grant is dead."""

    def __init__(self, dead: bool = False) -> None:
        self.token, self.refreshes, self.dead = "old", 0, dead

    async def access_token(self) -> str:
        return self.token

    async def refreshed_token(self) -> str:
        self.refreshes += 1
        if self.dead:
            raise PermanentError("grant revoked", code="invalid_grant")
        self.token = "new"
        return self.token


class Sleeps(list[float]):
    """A sleep that records instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def api(
    base: str,
    tokens: FakeTokens | None = None,
    sleeps: Sleeps | None = None,
    max_wait: float = 30.0,
) -> Api:
    """An Api on `base` with fake tokens and a sleep that only records."""
    return Api(
        httpx.AsyncClient(),
        base,
        tokens or FakeTokens(),
        max_wait=max_wait,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def context(
    known: set[str] | Mapping[str, Mapping[str, object]] | None = None,
    max_pages: int = 10,
    now: datetime = NOW,
    reconcile_interval: float = 86400.0,
) -> PollContext:
    """A PollContext whose store already holds the keys in `known` (with their data, when a
    mapping is given), at a fixed time."""
    stored = known if known is not None else set()

    async def known_keys(keys: Sequence[str]) -> set[str]:
        return {k for k in keys if k in stored}

    async def stored_data(keys: Sequence[str]) -> dict[str, Mapping[str, object]]:
        assert isinstance(stored, Mapping), "the test gave keys without data"
        return {k: stored[k] for k in keys if k in stored}

    return PollContext(
        max_pages=max_pages,
        now=lambda: now,
        known_keys=known_keys,
        stored_data=stored_data,
        reconcile_interval=reconcile_interval,
    )


async def collect(
    endpoint: Endpoint,
    client_api: Api,
    state: SyncState | None = None,
    ctx: PollContext | None = None,
) -> list[Batch]:
    """Every batch the endpoint yields in one poll."""
    return [b async for b in endpoint.poll(client_api, state or SyncState(), ctx or context())]


def keys(batches: list[Batch]) -> list[str]:
    """The keys of every item, in the order they came."""
    return [item.key for batch in batches for item in batch.items]


def last_state(batches: list[Batch]) -> Any:
    """The state the poll ended on: what the next poll starts from."""
    return batches[-1].state


async def collect_until(
    endpoint: Endpoint,
    client_api: Api,
    state: SyncState | None = None,
    ctx: PollContext | None = None,
) -> tuple[list[Batch], Exception]:
    """The batches yielded before the adapter failed, and the failure (which must come)."""
    batches: list[Batch] = []
    try:
        async for batch in endpoint.poll(client_api, state or SyncState(), ctx or context()):
            batches.append(batch)
    except Exception as exc:
        return batches, exc
    raise AssertionError("the adapter did not fail")

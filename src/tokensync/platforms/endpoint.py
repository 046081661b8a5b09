"""What a polling adapter is: an async generator of Batches over an API, and what it works with.

An adapter yields Batches (items and the state that covers them). The poll job commits each Batch
in one transaction before asking for the next, so the cursor never runs ahead of what is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tokensync.platforms.api import Api


@dataclass(frozen=True)
class SyncState:
    """The incremental state of one endpoint of one connection."""

    cursor: str | None = None
    etag: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """One platform object and the key that makes it unique within its endpoint."""

    key: str
    data: Mapping[str, object]


@dataclass(frozen=True)
class Batch:
    """Items, and the state to store once they are committed."""

    items: Sequence[Item]
    state: SyncState


@dataclass(frozen=True)
class PollContext:
    """What an adapter may ask of the job."""

    max_pages: int
    now: Callable[[], datetime]
    known_keys: Callable[[Sequence[str]], Awaitable[set[str]]]


class TokenSource(Protocol):
    """The access token of the connection being polled."""

    async def access_token(self) -> str:
        """The current token (refreshed first when about to expire)."""
        ...

    async def refreshed_token(self) -> str:
        """Refresh now and return the new token; PermanentError when the grant is dead."""
        ...


class Endpoint(Protocol):
    """A polling adapter: one endpoint of one platform."""

    name: str

    def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield batches of new or changed items, each with the state that covers it."""
        ...

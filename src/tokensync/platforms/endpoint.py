"""What a polling adapter is: an async generator of Batches over an API, and what it works with.

An adapter yields Batches (items and the state that covers them). The poll job commits each Batch
in one transaction before asking for the next, so the cursor never runs ahead of what is stored.

Deletions travel in Batches too: keys the platform says are gone (`deleted`), and walks. A walk is
a read of an endpoint's whole list (a snapshot, a full resync), possibly over several runs; the
batch that ends it tombstones every stored item the walk did not see, in the same transaction as
its cursor. A walk cut short never ends, so it tombstones nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

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


# Why a walk tombstoned an item it did not see: a snapshot no longer holds it, or the full list
# read after an incremental sync broke down (Calendar's 410, Gmail's 404) no longer does.
WalkReason = Literal["absent_from_snapshot", "absent_after_resync"]


@dataclass(frozen=True)
class Walk:
    """A batch's place in a walk over an endpoint's whole list.

    The batch that `begins` a walk starts a new one (a walk resumed from a stored cursor does not);
    the batch that `ends` it has seen the last page. Every item stored or seen while a walk is on
    counts as seen by it.
    """

    reason: WalkReason
    begins: bool = False
    ends: bool = False


@dataclass(frozen=True)
class Batch:
    """Items, and the state to store once they are committed.

    `seen`: keys present at the platform whose stored copy is current (listed, not fetched again).
    `deleted`: keys the platform says were deleted (applied after `items`).
    `final`: the adapter yields nothing after it, so the job writes the poll's data.changed event
    in this batch's transaction instead of one of its own (and asks for no further batch).
    """

    items: Sequence[Item]
    state: SyncState
    seen: Sequence[str] = ()
    deleted: Sequence[str] = ()
    walk: Walk | None = None
    final: bool = False


@dataclass(frozen=True)
class PollContext:
    """What an adapter may ask of the job."""

    max_pages: int
    now: Callable[[], datetime]
    # Which of these keys are stored and not tombstoned.
    known_keys: Callable[[Sequence[str]], Awaitable[set[str]]]
    # The stored data of these keys (those stored and not tombstoned).
    stored_data: Callable[[Sequence[str]], Awaitable[dict[str, Mapping[str, object]]]]
    # Seconds between walks of a list that cannot say what left it (YouTube's liked videos).
    reconcile_interval: float
    # Whether the connection's account id (providerUserId) is stored already; if not, an adapter
    # that meets it anyway (GitHub's GET /user) hands it to `learned_account`.
    account_known: bool = True
    learned_account: Callable[[str], Awaitable[None]] = field(default=lambda account: _noted())


async def _noted() -> None:
    """Nothing to store (a context that does not want the account id)."""


class Endpoint(Protocol):
    """A polling adapter: one endpoint of one platform."""

    name: str

    def poll(self, api: Api, state: SyncState, ctx: PollContext) -> AsyncIterator[Batch]:
        """Yield batches of new or changed items, each with the state that covers it."""
        ...

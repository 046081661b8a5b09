"""What a verified delivery says: which accounts revoked their grants, by the delivery's id."""

from __future__ import annotations

from dataclasses import dataclass

from tokensync.store.revocations import AccountRevocation


@dataclass(frozen=True)
class Notice:
    """A verified delivery: its source, its id (the same on every redelivery), the event it
    carries, and the accounts it revokes (none: an event that revokes nothing, acknowledged)."""

    source: str
    delivery_id: str
    event: str
    accounts: tuple[AccountRevocation, ...] = ()

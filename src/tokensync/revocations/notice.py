"""What a verified delivery says: which accounts, and which refresh tokens, were revoked, by the
delivery's id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokensync.store.revocations import AccountRevocation


@dataclass(frozen=True)
class TokenRevocation:
    """A refresh token a delivery says was revoked, named as its source names it (Google:
    `hash_base64_sha512_sha512` or `prefix`, token_digests.py), on these platforms."""

    algorithm: str
    identifier: str
    platforms: Sequence[str]
    reason: str


@dataclass(frozen=True)
class Notice:
    """A verified delivery: its source, its id (the same on every redelivery), the event it
    carries, the accounts and the refresh tokens it revokes (none: an event that revokes
    nothing, acknowledged)."""

    source: str
    delivery_id: str
    event: str
    accounts: tuple[AccountRevocation, ...] = ()
    tokens: tuple[TokenRevocation, ...] = ()

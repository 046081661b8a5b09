"""What a revocation the platforms push asks of the store: the delivery remembered, and the
account's connections marked `revoked`, their tokens cleared and connection.revoked said, all in
one transaction.

The delivery's id is inserted first: a delivery seen before inserts nothing, and changes nothing
else (the same delivery twice, or two receivers handed it at once: one of them applies it). A
revoked connection keeps its row (its user, platform, account and data) with no token: its
access_token_enc is empty and its refresh_token_enc null, and its grant generation moves on, so
that a refresh in flight, or a token set spooled, stores nothing of the revoked grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tokensync.store import outbox
from tokensync.store.engine import filter_params
from tokensync.store.models import Filters
from tokensync.store.outbox import OutboxMixin


@dataclass(frozen=True)
class RevokedConnection:
    """A connection a revocation marked revoked."""

    connection_id: int
    user_id: str
    platform: str
    provider_user_id: str


@dataclass(frozen=True)
class AccountRevocation:
    """One account a delivery says revoked its grants: its id at the provider, on which
    platforms, and why (the event, as the source names it)."""

    provider_user_id: str
    platforms: Sequence[str]
    reason: str


@dataclass(frozen=True)
class AppliedRevocation:
    """What a delivery changed: the connections it revoked, and how many of its accounts no
    connection names (acknowledged, not an error)."""

    revoked: tuple[RevokedConnection, ...]
    unknown_accounts: int


class RevocationMixin(OutboxMixin):
    """Applying a verified revocation, shared by both engines."""

    def apply_revocation(
        self,
        source: str,
        delivery_id: str,
        accounts: Sequence[AccountRevocation],
        now: datetime,
    ) -> AppliedRevocation | None:
        """Remember the delivery and revoke every connection of each account, in one
        transaction; None, and nothing changed, when the delivery was applied before."""
        seen = {"source": source, "delivery_id": delivery_id, "now": now}
        revoked: list[RevokedConnection] = []
        unknown = 0
        with self.transaction():
            if self._rowcount("remember_revocation_delivery", seen) != 1:
                return None
            for account in accounts:
                params = {
                    "account": account.provider_user_id,
                    "message": f"the provider says the user revoked the grant ({account.reason})",
                    "now": now,
                    **filter_params(Filters(platforms=tuple(account.platforms))),
                }
                rows = self._run("revoke_account", params)
                if not rows and not self._run("account_connections", params)[0]["n"]:
                    unknown += 1
                for row in sorted(rows, key=lambda r: int(r["id"])):
                    conn = RevokedConnection(
                        int(row["id"]),
                        str(row["user_id"]),
                        str(row["platform"]),
                        account.provider_user_id,
                    )
                    event = outbox.revoked(
                        conn.connection_id, conn.user_id, conn.platform, source, account.reason
                    )
                    self._emit(event, now)
                    revoked.append(conn)
        return AppliedRevocation(tuple(revoked), unknown)

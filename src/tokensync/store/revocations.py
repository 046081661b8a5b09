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
from tokensync.store.engine import Row, filter_params
from tokensync.store.models import Connection, Filters
from tokensync.store.outbox import OutboxMixin
from tokensync.token_digests import RefreshDigests


@dataclass(frozen=True)
class RevokedConnection:
    """A connection a revocation marked revoked."""

    connection_id: int
    user_id: str
    platform: str
    provider_user_id: str | None


@dataclass(frozen=True)
class AccountRevocation:
    """One account a delivery says revoked its grants: its id at the provider, on which
    platforms, and why (the event, as the source names it)."""

    provider_user_id: str
    platforms: Sequence[str]
    reason: str


@dataclass(frozen=True)
class GrantRevocation:
    """One connection whose grant a delivery named (by its refresh token), as it was found: it
    is revoked only while it still holds that grant."""

    connection_id: int
    grant_generation: int
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
        grants: Sequence[GrantRevocation] = (),
    ) -> AppliedRevocation | None:
        """Remember the delivery and revoke every connection of each account, and each grant
        named, in one transaction; None, and nothing changed, when the delivery was applied
        before."""
        seen = {"source": source, "delivery_id": delivery_id, "now": now}
        revoked: list[RevokedConnection] = []
        unknown = 0
        with self.transaction():
            if self._rowcount("remember_revocation_delivery", seen) != 1:
                return None
            for account in accounts:
                params = {
                    "account": account.provider_user_id,
                    **_revoked(account.reason, now),
                    **filter_params(Filters(platforms=tuple(account.platforms))),
                }
                rows = self._run("revoke_account", params)
                if not rows and not self._run("account_connections", params)[0]["n"]:
                    unknown += 1
                revoked += self._said(rows, source, account.reason, now)
            for grant in grants:
                params = {
                    "id": grant.connection_id,
                    "grant_generation": grant.grant_generation,
                    **_revoked(grant.reason, now),
                }
                rows = self._run("revoke_connection", params)
                revoked += self._said(rows, source, grant.reason, now)
        return AppliedRevocation(tuple(revoked), unknown)

    def _said(
        self, rows: Sequence[Row], source: str, reason: str, now: datetime
    ) -> list[RevokedConnection]:
        """connection.revoked for each row revoked, in id order."""
        said = []
        for row in sorted(rows, key=lambda r: int(r["id"])):
            account = row["provider_user_id"]
            conn = RevokedConnection(
                int(row["id"]),
                str(row["user_id"]),
                str(row["platform"]),
                None if account is None else str(account),
            )
            self._emit(
                outbox.revoked(conn.connection_id, conn.user_id, conn.platform, source, reason), now
            )
            said.append(conn)
        return said

    def find_refresh_digests(
        self, algorithm: str, digests: Sequence[str], platforms: Sequence[str]
    ) -> list[tuple[int, int]]:
        """(id, grant generation) of the connections whose digest of this algorithm is one of
        `digests`, and was written for the grant they hold."""
        params = {"digests": list(digests), **filter_params(Filters(platforms=tuple(platforms)))}
        if algorithm == "prefix":
            rows = self._run("find_prefix_digest", params)
        else:
            rows = self._run("find_refresh_digest", params)
        return [
            (int(r["id"]), int(r["grant_generation"]))
            for r in rows
            if r["refresh_digest_generation"] == r["grant_generation"]
        ]

    def undigested_refresh_tokens(
        self, platforms: Sequence[str], keys: Sequence[str], after_id: int, limit: int
    ) -> list[Connection]:
        """A page of the connections whose refresh token digests are unknown (token_digests.py)."""
        params = {
            "after_id": after_id,
            "limit": limit,
            "keys": list(keys),
            **filter_params(Filters(platforms=tuple(platforms))),
        }
        return [self._connection(r) for r in self._run("undigested_refresh_tokens", params)]

    def note_refresh_digests(self, conn: Connection, digests: RefreshDigests) -> None:
        """Store the digests of a connection's refresh token, while it still holds it."""
        params = {
            "id": conn.id,
            "refresh_token_enc": conn.refresh_token_enc,
            "hashed": digests.hashed,
            "prefix": digests.prefix,
            "key": digests.key,
        }
        with self.transaction():
            self._rowcount("note_refresh_digests", params)


def _revoked(reason: str, now: datetime) -> dict[str, object]:
    return {"message": f"the provider says the user revoked the grant ({reason})", "now": now}

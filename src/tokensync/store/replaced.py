"""What revoking replaced grants asks of the store: the grants an import or save_grant replaced
(written by the import's own transaction, store/importing.py), due for an attempt, and each
attempt's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tokensync.store.engine import Engine


@dataclass(frozen=True)
class ReplacedGrant:
    """A replaced grant's tokens (ciphertext, bound to its connection's user and platform)."""

    id: int
    connection_id: int
    user_id: str
    platform: str
    access_token_enc: str = field(repr=False)
    refresh_token_enc: str = field(repr=False)
    replaced_at: datetime
    attempts: int


class ReplacedGrantsMixin(Engine):
    """The replaced grants' queries, shared by both engines."""

    def due_replaced_grants(
        self, now: datetime, limit: int, connections: Sequence[int] | None = None
    ) -> list[ReplacedGrant]:
        """Replaced grants due for an attempt (of these connections; None: all), oldest first."""
        params = {
            "now": now,
            "limit": limit,
            "all_connections": connections is None,
            "connections": list(connections or ()),
        }
        return [
            ReplacedGrant(
                id=int(r["id"]),
                connection_id=int(r["connection_id"]),
                user_id=str(r["user_id"]),
                platform=str(r["platform"]),
                access_token_enc=str(r["access_token_enc"]),
                refresh_token_enc=str(r["refresh_token_enc"]),
                replaced_at=r["replaced_at"],
                attempts=int(r["attempts"]),
            )
            for r in self._run("due_replaced_grants", params)
        ]

    def drop_replaced_grant(self, grant_id: int) -> None:
        """The grant is done with (revoked, the same grant, or given up)."""
        with self.transaction():
            self._rowcount("drop_replaced_grant", {"id": grant_id})

    def replaced_grant_failed(self, grant_id: int, next_attempt_at: datetime, error: str) -> None:
        """An attempt failed; the next is due at `next_attempt_at`."""
        params = {"id": grant_id, "next_attempt_at": next_attempt_at, "error": error}
        with self.transaction():
            self._rowcount("replaced_grant_failed", params)

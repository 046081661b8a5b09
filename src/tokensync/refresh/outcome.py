"""How one connection's refresh ended: the outcome the refresher returns to the job or command that
asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from tokensync.errors import TokensyncError
from tokensync.oauth.revocation import Revocation
from tokensync.store import Connection


class Refreshed(Enum):
    """How one connection's refresh ended."""

    REFRESHED = "refreshed"
    FAILED = "failed"
    NEEDS_REAUTH = "needs_reauth"
    # Nothing to store: another run refreshed it meanwhile (revocation None), or the application
    # wrote a newer grant while this refresh of the older one ran (revocation says what became of
    # the older grant's new tokens, which were not stored).
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class Outcome:
    """What happened to one connection."""

    connection: Connection
    kind: Refreshed
    new_expiry: datetime | None = None
    rotated: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    next_attempt_at: datetime | None = None
    spooled: bool = False
    warning: str | None = None
    access_token: str | None = field(default=None, repr=False)
    elapsed_ms: int = 0
    revocation: Revocation | None = None  # SUPERSEDED by a newer grant: the older one's tokens

    @classmethod
    def failed(cls, conn: Connection, error: TokensyncError) -> Outcome:
        """A failure, with the error's code and message."""
        return cls(conn, Refreshed.FAILED, error_code=error.code, error_message=error.message)

    @property
    def newer_grant(self) -> bool:
        """Superseded by a grant the application wrote while this refresh ran."""
        return self.revocation is not None

    def log_fields(self) -> dict[str, object]:
        """What a log line says of this outcome: ids, outcome, timing; never a secret or a user
        id (Reportable)."""
        fields: dict[str, object] = {
            "connectionId": self.connection.id,
            "platform": self.connection.platform,
            "outcome": self.kind.value,
            "durationMs": self.elapsed_ms,
        }
        if self.revocation is not None:
            fields["revoked"] = self.revocation.revoked
        if self.error_code:
            fields["error"] = self.error_code
        return fields

    @property
    def success(self) -> bool:
        """Whether the connection is fine after this run."""
        return self.kind in (Refreshed.REFRESHED, Refreshed.SUPERSEDED)

    @property
    def status(self) -> str:
        """The connection's status afterwards."""
        return "needs_reauth" if self.kind is Refreshed.NEEDS_REAUTH else self.connection.status

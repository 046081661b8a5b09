"""The values that travel between the store and the jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

STATUSES = ("active", "needs_reauth", "disabled")


@dataclass(frozen=True)
class Connection:
    """One (user, platform) row; the token columns hold ciphertext only."""

    id: int
    user_id: str
    platform: str
    access_token_enc: str = field(repr=False)
    refresh_token_enc: str | None = field(repr=False)
    token_type: str
    scope: str | None
    expires_at: datetime | None
    status: str
    tokens_updated_at: datetime
    last_refreshed_at: datetime | None
    last_error_code: str | None
    last_error_message: str | None
    failure_count: int
    next_attempt_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_sync_at: datetime | None
    created_at: datetime
    updated_at: datetime
    refresh_token_expires_at: datetime | None = None  # when the grant itself ends, if known
    next_poll_at: datetime | None = None
    poll_lease_expires_at: datetime | None = None

    @property
    def label(self) -> str:
        """How errors name this connection: never a secret."""
        return f"connection {self.id} ({self.platform}, user {self.user_id})"


@dataclass(frozen=True)
class NewTokens:
    """Encrypted tokens to write for a (user, platform), from an import."""

    user_id: str
    platform: str
    access_token_enc: str = field(repr=False)
    refresh_token_enc: str | None = field(repr=False)
    token_type: str
    scope: str | None
    expires_at: datetime | None
    refresh_token_expires_at: datetime | None = None


# Rows per table, as a removal counts them (what was deleted, or what a dry run would delete).
TableCounts = dict[str, int]


@dataclass(frozen=True)
class ImportCounts:
    """How many connections an import created and replaced."""

    inserted: int
    updated: int


@dataclass(frozen=True)
class Filters:
    """The --platform and --user filters of a job; empty means all."""

    platforms: tuple[str, ...] = ()
    users: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredItem:
    """One polled item as the poll job hands it to the store."""

    key: str
    data: object


@dataclass(frozen=True)
class SyncCursor:
    """The stored incremental state of one (user, platform, endpoint)."""

    cursor: str | None = None
    etag: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusCount:
    """How many connections of a platform are in a status."""

    platform: str
    status: str
    count: int


@dataclass(frozen=True)
class Expiring:
    """An active connection and when its access token expires."""

    connection_id: int
    user_id: str
    platform: str
    expires_at: datetime


@dataclass(frozen=True)
class Erring:
    """A connection with its last error: one that needs re-authorisation, or one failing."""

    connection_id: int
    user_id: str
    platform: str
    error_code: str | None
    error_message: str | None
    failure_count: int
    next_attempt_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """A job run as the runs table holds it."""

    run_id: str
    command: str
    started_at: datetime
    finished_at: datetime | None
    success: bool | None
    exit_code: int | None
    summary: dict[str, object] | None

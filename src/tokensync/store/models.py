"""The values that travel between the store and the jobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tokensync.errors import EXIT_OK
from tokensync.token_digests import RefreshDigests

STATUSES = ("active", "needs_reauth", "disabled", "revoked")
# Why a stored item was tombstoned (user_platform_data.deleted_reason).
TOMBSTONE_REASONS = (
    "absent_from_snapshot",
    "deleted_at_source",
    "absent_after_resync",
    "disconnected",
)


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
    streak_started_at: datetime | None = None  # the first failure of the current streak
    # How many grants the application wrote for this connection: refreshed tokens are stored only
    # under the generation they were refreshed from (a newer grant always wins).
    grant_generation: int = 1
    # When the lease holder sent the refresh token (None: nothing in flight).
    lease_sent_at: datetime | None = None
    # When an application asked for a refresh (tokensync_request_refresh, docs/node.md): due now.
    refresh_requested_at: datetime | None = None
    # The provider's id of the account behind the grant (GitHub's user id, Google's `sub`).
    provider_user_id: str | None = None
    # Columns whose stored value could not be read (engine.UNREADABLE): such a row fails alone.
    unreadable: tuple[str, ...] = ()

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
    # The import line it came from (0: its position among the rows written together).
    line: int = 0
    # No refreshToken on the line: a connection that exists keeps its stored one, and the grant's
    # end stored with it unless the line gives one. (An explicit `"refreshToken": null` is
    # refresh_token_enc None with keep_refresh False: removed.)
    keep_refresh: bool = False
    # The provider's id of the account, when the line or the grant names it (None: not known).
    provider_user_id: str | None = None
    # Keyed digests of Google's identifiers of the refresh token (token_digests.py), for the
    # platforms whose grants Google issues.
    refresh_digests: RefreshDigests | None = None


# Rows per table, as a removal counts them (what was deleted, or what a dry run would delete).
TableCounts = dict[str, int]


@dataclass(frozen=True)
class OldGrant:
    """A grant an import replaced, and what became of it at the provider."""

    connection_id: int
    user_id: str
    platform: str
    revoked: bool
    reason: str | None = None  # why not (yet): retried by the next job run, or never


@dataclass(frozen=True)
class OldGrants:
    """The replaced grants one attempt dealt with: revoked, left for a later attempt (the
    provider failed), or not to be revoked (the same grant imported again; given up)."""

    revoked: tuple[OldGrant, ...] = ()
    pending: tuple[OldGrant, ...] = ()
    dropped: tuple[OldGrant, ...] = ()


@dataclass(frozen=True)
class ImportCounts:
    """How many connections an import created and replaced."""

    inserted: int
    updated: int
    # Grants replaced by another, kept to be revoked (replaced_grants).
    replaced_grants: int = 0
    # What became of them once the import was committed (refresh/old_grants.py).
    old_grants: OldGrants | None = None

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


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
    """The stored incremental state of one (user, platform, endpoint).

    `generation` numbers the endpoint's walks over its whole list: items stored or seen carry the
    number of the walk that was on, so the batch that ends a walk knows what it did not see.
    """

    cursor: str | None = None
    etag: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    generation: int = 0


@dataclass(frozen=True)
class BatchWrite:
    """What one committed batch changes: items, tombstones and the cursor, all or nothing.

    `seen`: stored keys to count as seen by the walk without new data. `deleted`: keys deleted at
    the source, tombstoned after the items are stored. `sweep`: the reason to tombstone every live
    item the walk did not see, when this batch ends a walk. `walking_from`: for a batch of a walk,
    the generation this run found stored; the batch is refused (LeaseLostError) if it moved since,
    which only another run polling the same endpoint can do.
    """

    items: Sequence[StoredItem]
    state: SyncCursor
    seen: Sequence[str] = ()
    deleted: Sequence[str] = ()
    sweep: str | None = None
    walking_from: int | None = None


@dataclass(frozen=True)
class BatchCounts:
    """What a committed batch did: items inserted, items changed (or back from a tombstone),
    items tombstoned."""

    new: int = 0
    changed: int = 0
    deleted: int = 0

    def plus(self, other: BatchCounts) -> BatchCounts:
        """These counts and another batch's."""
        return BatchCounts(
            self.new + other.new, self.changed + other.changed, self.deleted + other.deleted
        )

    @property
    def any(self) -> bool:
        """Whether anything was inserted, changed or tombstoned."""
        return bool(self.new or self.changed or self.deleted)


@dataclass(frozen=True)
class Announcement:
    """Given with the batch that ends a poll of an endpoint: write the poll's data.changed event
    in that batch's transaction, if the poll changed anything. `earlier`: what the poll's earlier
    batches did (the batch's own counts are added)."""

    connection_id: int
    earlier: BatchCounts = BatchCounts()


@dataclass(frozen=True)
class StatusCount:
    """How many connections of a platform are in a status."""

    platform: str
    status: str
    count: int


@dataclass(frozen=True)
class Expiring:
    """An active connection and when something of it ends: its access token, or its grant
    (None: stored unreadably)."""

    connection_id: int
    user_id: str
    platform: str
    expires_at: datetime | None


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
    updated_at: datetime | None


@dataclass(frozen=True)
class RunRecord:
    """A job run as the runs table holds it."""

    run_id: str
    command: str
    started_at: datetime | None
    finished_at: datetime | None
    success: bool | None
    exit_code: int | None
    summary: dict[str, object] | None


# -- lifecycle events (store/outbox.py writes them, store/webhook_queue.py delivers them) ---------

EVENT_TYPES = (
    "connection.needs_reauth",
    "connection.recovered",
    "connection.failing",
    "connection.expiring",
    "connection.disconnected",
    "user.erased",
    "data.changed",
    "connection.revoked",
)
# pending: to be delivered (or waiting for its next attempt); delivered: a 2xx answered it;
# dead: not delivered within the delivery window.
EVENT_STATUSES = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class NewEvent:
    """A lifecycle event, to be written in the transaction of the change it reports."""

    type: str
    user_id: str
    connection_id: int | None
    data: dict[str, object]


@dataclass(frozen=True)
class StoredEvent:
    """An event of the outbox and its delivery state. `seq` is its published position (None
    until published); `event_id` is what the webhook-id header carries."""

    id: int
    seq: int | None
    event_id: str
    type: str
    user_id: str | None
    connection_id: int | None
    data: dict[str, object]
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class EventCounts:
    """The outbox at a glance: events waiting for delivery, and events that died."""

    pending: int
    dead: int


@dataclass(frozen=True)
class Endpoint:
    """What tokensync knows of a webhook endpoint (named by a hash of its URL)."""

    url_key: str
    host: str
    disabled_at: datetime | None = None  # it answered 410 Gone
    resumes_at: datetime | None = None  # it answered 429
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None

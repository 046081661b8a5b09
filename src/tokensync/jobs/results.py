"""What the jobs return: typed results, read by the run recorder, metrics, summaries and exit code.

Only tokensync.output turns them into JSON. Every result has the same frame (JobResult: when it
ran, whether it stopped early, the error that failed it as a whole) and its own counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from tokensync.errors import EXIT_FAILURES, EXIT_OK, StorageError, TokensyncError, exit_code_for
from tokensync.jobs.options import FailOn, Keep
from tokensync.oauth.revocation import Revocation
from tokensync.refresh.outcome import Outcome, Refreshed
from tokensync.runtime.job_kinds import POLL, REFRESH, JobKind
from tokensync.store import Connection
from tokensync.store.models import OldGrants

if TYPE_CHECKING:  # both import this module (through the refresher), which only names them
    from tokensync.events.delivery import DeliveryReport
    from tokensync.events.notices import Notices

# Why a connection's poll failed when the grant itself is dead (or the connection was disabled):
# the user's to fix, not the operator's.
DEAD_GRANT_CODES = frozenset({"needs_reauth", "disabled", "revoked"})


@dataclass(frozen=True)
class Skipped:
    """A connection of a run's selection that the run did not act on, and why."""

    connection: Connection
    reason: str  # polled_recently, not_due, backing_off, leased, needs_reauth, ...
    next_due_at: datetime | None = None


@dataclass(kw_only=True)
class JobResult:
    """The frame every job run shares."""

    kind: ClassVar[JobKind]  # which job ran

    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    # --results: what the document holds of items, and (`none`) of what providers said.
    keep: Keep = "all"
    spool_applied: int = 0
    spool_superseded: int = 0  # spooled token sets of grants replaced since: not stored
    # Grants an import or save_grant replaced, whose revocation this run attempted again.
    old_grants: OldGrants | None = None
    # What the reader of the document should know that is no failure (a clock far off the
    # database's, say).
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None
    error: StorageError | None = None
    # For a run selected by --user only (a handful of rows): the ids it acted on, and the rest
    # of the selection with why it was left alone. None otherwise: a scheduled run over every
    # connection must not hold or read them all.
    acted_on: set[int] | None = None
    skipped: list[Skipped] | None = None
    fail_on: FailOn = "any"
    # What the run's end did with lifecycle events: announced (failing, expiring), delivered.
    notices: Notices | None = None
    deliveries: DeliveryReport | None = None
    # Items by (platform, outcome), for the metrics file: a platform failing wholesale shows.
    by_platform: dict[tuple[str, str], int] = field(default_factory=dict)

    def tally(self, platform: str, outcome: str) -> None:
        """Count one item of a platform by how it ended."""
        key = (platform, outcome)
        self.by_platform[key] = self.by_platform.get(key, 0) + 1

    def acted(self, ids: Iterable[int]) -> None:
        """Note connections the run acted on (claimed, or a dry run found due)."""
        if self.acted_on is not None:
            self.acted_on.update(ids)

    @property
    def failures(self) -> int:
        """How many items failed."""
        raise NotImplementedError

    @property
    def operator_failures(self) -> int:
        """How many items failed for a reason an operator can act on (not a user's dead grant)."""
        raise NotImplementedError

    @property
    def fully_succeeded(self) -> bool:
        """Nothing failed at all."""
        return self.failures == 0 and self.error is None and not self.webhook_failed

    @property
    def completed(self) -> bool:
        """Nothing failed that an operator can act on: dead grants (users') may have."""
        return self.operator_failures == 0 and self.error is None and not self.webhook_failed

    @property
    def webhook_failed(self) -> bool:
        """The webhook endpoint failed this run's deliveries (an operator's to fix)."""
        return self.deliveries is not None and self.deliveries.endpoint_failed

    @property
    def success(self) -> bool:
        """What the document's `success` and the exit code say, by --fail-on: nothing failed
        (any), or nothing an operator can act on (operator)."""
        return self.completed if self.fail_on == "operator" else self.fully_succeeded

    @property
    def exit_code(self) -> int:
        """0 when the run succeeded, the error's code when one failed it, else 1."""
        if self.success:
            return EXIT_OK
        return exit_code_for(self.error) if self.error is not None else EXIT_FAILURES

    @property
    def duration_ms(self) -> int:
        """How long the run took."""
        end = self.finished_at or self.started_at
        return int((end - self.started_at).total_seconds() * 1000)

    def counts(self) -> dict[str, int]:
        """The run's counts, named as its document and the runs table name them."""
        raise NotImplementedError


# -- refresh-tokens -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RefreshResult(JobResult):
    """What a refresh-tokens run did: counts always, outcomes as --results asked."""

    kind: ClassVar[JobKind] = REFRESH

    checked: int = 0
    refreshed: int = 0
    failed: int = 0
    needs_reauth: int = 0
    superseded: int = 0  # refreshes of a grant the application replaced meanwhile
    leases_lost: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    due: list[Connection] = field(default_factory=list)  # a dry run's connections

    @property
    def failures(self) -> int:
        """Connections whose refresh failed (dead grants included)."""
        return self.failed

    @property
    def operator_failures(self) -> int:
        """Failed refreshes other than dead grants."""
        return self.failed - self.needs_reauth

    def counts(self) -> dict[str, int]:
        """tokensChecked, tokensRefreshed, tokensFailed, needsReauth, tokensSuperseded."""
        return {
            "tokensChecked": self.checked,
            "tokensRefreshed": self.refreshed,
            "tokensFailed": self.failed,
            "needsReauth": self.needs_reauth,
            "tokensSuperseded": self.superseded,
        }

    def count(self, outcome: Outcome, keep: bool) -> None:
        """Add one outcome to the counts (and to the outcomes, if kept)."""
        self.checked += 1
        self.acted((outcome.connection.id,))
        self.refreshed += outcome.kind is Refreshed.REFRESHED
        self.needs_reauth += outcome.kind is Refreshed.NEEDS_REAUTH
        self.superseded += outcome.newer_grant
        self.failed += outcome.kind in (Refreshed.FAILED, Refreshed.NEEDS_REAUTH)
        self.tally(outcome.connection.platform, outcome.kind.value)
        if keep:
            self.outcomes.append(outcome)


# -- poll-platforms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint of one connection."""

    endpoint: str
    success: bool
    fetched: int = 0
    new: int = 0
    stored: int = 0
    deleted: int = 0  # stored items tombstoned: gone at the platform
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def failed(cls, endpoint: str, error: TokensyncError) -> EndpointResult:
        """An endpoint whose poll failed with this error."""
        return cls(endpoint, False, error_code=error.code, error_message=error.message)


@dataclass(frozen=True)
class ConnectionPoll:
    """One connection's poll."""

    connection: Connection
    endpoints: Sequence[EndpointResult]
    error_code: str | None = None
    error_message: str | None = None
    # Its token's refresh was of a grant the application replaced meanwhile (the newer grant's
    # token polled): what became of the older grant's new tokens.
    superseded: Revocation | None = None

    @property
    def success(self) -> bool:
        """Every endpoint succeeded."""
        return self.error_code is None and all(e.success for e in self.endpoints)

    @property
    def dead_grant(self) -> bool:
        """It failed only because the grant is dead (found so in this poll, or before)."""
        codes = {e.error_code for e in self.endpoints if not e.success}
        if self.error_code is not None:
            codes.add(self.error_code)
        return bool(codes) and codes <= DEAD_GRANT_CODES

    def log_fields(self) -> dict[str, object]:
        """What a log line says of this poll: ids, counts, outcome; never a secret or a user
        id (Reportable)."""
        return {
            "connectionId": self.connection.id,
            "platform": self.connection.platform,
            "outcome": "polled" if self.success else "failed",
            "itemsFetched": sum(e.fetched for e in self.endpoints),
            "newItems": sum(e.new for e in self.endpoints),
            "deletedItems": sum(e.deleted for e in self.endpoints),
        }


@dataclass(kw_only=True)
class PollResult(JobResult):
    """What a poll-platforms run did."""

    kind: ClassVar[JobKind] = POLL

    users: set[str] = field(default_factory=set)
    connections: int = 0
    successful: int = 0
    failed: int = 0
    dead_grants: int = 0  # of the failed, those that failed only on a dead grant
    fetched: int = 0
    stored: int = 0
    deleted: int = 0
    superseded: int = 0  # refreshes of grants the application replaced meanwhile
    polls: list[ConnectionPoll] = field(default_factory=list)
    due: list[Connection] = field(default_factory=list)  # a dry run's connections
    platform_errors: dict[str, TokensyncError] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        """Connections whose poll failed."""
        return self.failed

    @property
    def operator_failures(self) -> int:
        """Failed polls other than those of dead grants."""
        return self.failed - self.dead_grants

    def counts(self) -> dict[str, int]:
        """userCount, platformCount, pollsSuccessful, pollsFailed, itemsFetched, itemsStored,
        itemsDeleted."""
        return {
            "userCount": len(self.users),
            "platformCount": self.connections,
            "pollsSuccessful": self.successful,
            "pollsFailed": self.failed,
            "itemsFetched": self.fetched,
            "itemsStored": self.stored,
            "itemsDeleted": self.deleted,
        }

    def count(self, poll: ConnectionPoll, keep: bool) -> None:
        """Add one connection's poll to the counts (and to the polls, if kept)."""
        self.users.add(poll.connection.user_id)
        self.acted((poll.connection.id,))
        self.connections += 1
        self.successful += poll.success
        self.failed += not poll.success
        self.dead_grants += poll.dead_grant
        self.fetched += sum(e.fetched for e in poll.endpoints)
        self.stored += sum(e.stored for e in poll.endpoints)
        self.deleted += sum(e.deleted for e in poll.endpoints)
        self.superseded += poll.superseded is not None
        self.tally(poll.connection.platform, "polled" if poll.success else "failed")
        if keep:
            self.polls.append(poll)

    def count_due(self, due: Sequence[Connection], keep: bool) -> None:
        """Add a page of a dry run's due connections."""
        self.connections += len(due)
        self.acted(c.id for c in due)
        self.users.update(c.user_id for c in due)
        if keep:
            self.due.extend(due)

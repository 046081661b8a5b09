"""Each kind of job result, rendered: the one place that knows what a refresh run and a poll run
hold beyond the frame they share. The document (job_document.py), the metrics file (metrics.py)
and the step summary (step_summary.py) all ask `view_of(result)`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from tokensync.jobs.results import (
    ConnectionPoll,
    EndpointResult,
    JobResult,
    PollResult,
    RefreshResult,
)
from tokensync.oauth.revocation import Revocation
from tokensync.output.stdout import Document, error_body
from tokensync.refresh.outcome import Outcome
from tokensync.store import Connection
from tokensync.times import iso

# A failure as the step summary lists it: user, platform, what failed, code, message.
Row = tuple[str, str, str, str, str]


class JobView(Protocol):
    """What only one kind of job result holds, as every place that shows a run needs it."""

    def entries(self) -> list[Document]:
        """The document's `results`: a dry run's due connections, or each item's outcome."""
        ...

    def fields(self) -> Document:
        """The document's fields that only this job has."""
        ...

    def items(self) -> dict[str, int]:
        """The run's items by outcome, as the tokensync_last_run_items series label them."""
        ...

    def failures(self) -> Iterator[Row]:
        """The failed items, as the step summary lists them."""
        ...


def view_of(result: JobResult) -> JobView:
    """The view of a run's result: the one place a kind of result finds its renderer."""
    if isinstance(result, RefreshResult):
        return RefreshView(result)
    if isinstance(result, PollResult):
        return PollView(result)
    raise TypeError(f"no view of {type(result).__name__}")


@dataclass(frozen=True)
class RefreshView:
    """A refresh-tokens run."""

    result: RefreshResult

    def entries(self) -> list[Document]:
        """Each connection's outcome, or (dry run) the connections due."""
        if self.result.dry_run:
            return [
                _due(c, wouldRefresh=True, expiresAt=iso(c.expires_at)) for c in self.result.due
            ]
        return [refresh_entry(o) for o in self.result.outcomes]

    def fields(self) -> Document:
        """leasesLost: rows another run took over before this one reached them (nothing was
        sent for them)."""
        return {"leasesLost": self.result.leases_lost} if self.result.leases_lost else {}

    def items(self) -> dict[str, int]:
        """checked, refreshed, failed, needs_reauth."""
        r = self.result
        return {
            "checked": r.checked,
            "refreshed": r.refreshed,
            "failed": r.failed,
            "needs_reauth": r.needs_reauth,
        }

    def failures(self) -> Iterator[Row]:
        """A row per failed refresh, with the connection's status afterwards."""
        for o in self.result.outcomes:
            if not o.success:
                conn = o.connection
                yield (
                    conn.user_id,
                    conn.platform,
                    o.status,
                    o.error_code or "",
                    o.error_message or "",
                )


@dataclass(frozen=True)
class PollView:
    """A poll-platforms run."""

    result: PollResult

    def entries(self) -> list[Document]:
        """Each connection's poll, or (dry run) the connections due."""
        if self.result.dry_run:
            return [_due(c, wouldPoll=True) for c in self.result.due]
        return [_poll_entry(p) for p in self.result.polls]

    def fields(self) -> Document:
        """tokensSuperseded (tokens refreshed for a poll, of grants the application replaced
        meanwhile) and platformErrors."""
        r = self.result
        doc: Document = {}
        if r.superseded:
            doc["tokensSuperseded"] = r.superseded
        if r.platform_errors:
            # With --results none the document is counts only: a platform's code, not the
            # provider's own words (a public repository publishes the document).
            doc["platformErrors"] = {
                name: error_body(e.code, e.message) if r.keep != "none" else {"code": e.code}
                for name, e in sorted(r.platform_errors.items())
            }
        return doc

    def items(self) -> dict[str, int]:
        """polls_successful, polls_failed, items_fetched, items_stored, items_deleted."""
        r = self.result
        return {
            "polls_successful": r.successful,
            "polls_failed": r.failed,
            "items_fetched": r.fetched,
            "items_stored": r.stored,
            "items_deleted": r.deleted,
        }

    def failures(self) -> Iterator[Row]:
        """A row per failed endpoint, and one for a connection that failed as a whole."""
        for poll in self.result.polls:
            if poll.success:
                continue
            conn = poll.connection
            for e in poll.endpoints:
                if not e.success:
                    yield (
                        conn.user_id,
                        conn.platform,
                        e.endpoint,
                        e.error_code or "",
                        e.error_message or "",
                    )
            if poll.error_code:
                yield (
                    conn.user_id,
                    conn.platform,
                    "connection",
                    poll.error_code,
                    poll.error_message or "",
                )


def _row(conn: Connection, what: str, code: str | None, message: str | None) -> Row:
    return (conn.user_id, conn.platform, what, code or "", message or "")


def refresh_entry(outcome: Outcome) -> Document:
    """One entry of the refresh document's results."""
    conn = outcome.connection
    entry: Document = {
        "platform": conn.platform,
        "userId": conn.user_id,
        "connectionId": conn.id,
        "success": outcome.success,
    }
    if outcome.success:
        if outcome.revocation is not None:
            entry["superseded"] = superseded_body(outcome.revocation)
        elif outcome.new_expiry is not None or outcome.rotated is not None:
            entry["newExpiry"] = iso(outcome.new_expiry)
            entry["rotated"] = bool(outcome.rotated)
        else:
            entry["note"] = "refreshed by another run meanwhile"
        if outcome.spooled:
            entry["spooled"] = True
        if outcome.warning:
            entry["warning"] = outcome.warning
    else:
        entry["status"] = outcome.status
    if outcome.error_code:
        entry["error"] = error_body(outcome.error_code, outcome.error_message)
    if outcome.next_attempt_at is not None:
        entry["nextAttemptAt"] = iso(outcome.next_attempt_at)
    return entry


def superseded_body(revocation: Revocation) -> Document:
    """A refresh of a grant the application replaced while it ran: its tokens were not stored;
    were they revoked?"""
    doc: Document = {"revoked": revocation.revoked}
    if revocation.already_invalid:
        doc["alreadyInvalid"] = True
    if revocation.reason:
        doc["reason"] = revocation.reason
    return doc


def _due(conn: Connection, **what: object) -> Document:
    """A dry run's entry: a connection that a real run would act on."""
    ids = {"userId": conn.user_id, "platform": conn.platform, "connectionId": conn.id}
    return {**ids, "success": True, **what}


def _poll_entry(poll: ConnectionPoll) -> Document:
    conn = poll.connection
    entry: Document = {
        "userId": conn.user_id,
        "platform": conn.platform,
        "connectionId": conn.id,
        "success": poll.success,
        "results": [_endpoint_entry(e) for e in poll.endpoints],
    }
    if poll.error_code:
        entry["error"] = error_body(poll.error_code, poll.error_message)
    if poll.superseded is not None:
        entry["superseded"] = superseded_body(poll.superseded)
    return entry


def _endpoint_entry(e: EndpointResult) -> Document:
    item: Document = {
        "endpoint": e.endpoint,
        "success": e.success,
        "itemCount": e.fetched,
        "newItems": e.new,
        "deletedItems": e.deleted,
    }
    if e.error_code:
        item["error"] = error_body(e.error_code, e.error_message)
    return item

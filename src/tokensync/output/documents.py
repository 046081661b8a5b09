"""The JSON documents tokensync prints, built from typed results, and the functions that print them.

Keys are camelCase, as the consumers of the old HTTP endpoints expect (DESIGN.md, Output).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tokensync.connections.disconnect import Disconnection
from tokensync.connections.erase import Erasure
from tokensync.connections.fresh_token import AccessToken
from tokensync.connections.key_rotation import RotationResult
from tokensync.connections.prune import PruneResult
from tokensync.connections.status import StatusReport
from tokensync.errors import TokensyncError
from tokensync.jobs.results import (
    ConnectionPoll,
    EndpointResult,
    JobResult,
    PollResult,
    RefreshResult,
    Skipped,
)
from tokensync.jobs.skipped import reasons
from tokensync.oauth.revocation import Revocation
from tokensync.output.event_documents import outbox_document, run_events, webhook_document
from tokensync.output.stdout import Document, error_body
from tokensync.refresh.outcome import Outcome
from tokensync.store import Connection
from tokensync.store.models import Erring, ImportCounts
from tokensync.times import iso

# At most this many failures are listed by `keys rotate`; the count says how many there were.
ROTATION_FAILURES_SHOWN = 100


# -- the jobs -------------------------------------------------------------------------------------


def job_document(result: JobResult) -> Document:
    """The document of a refresh-tokens or poll-platforms run (DESIGN.md, Output)."""
    doc: Document = {
        "success": result.success,
        "cronType": result.kind.cron_type,
        "timestamp": iso(result.started_at),
        "durationMs": result.duration_ms,
        **result.counts(),
    }
    if result.dry_run:
        doc["dryRun"] = True
    if result.fail_on != "any":
        doc["failOn"] = result.fail_on
    if isinstance(result, RefreshResult):
        doc["results"] = (
            [_due(c, wouldRefresh=True, expiresAt=iso(c.expires_at)) for c in result.due]
            if result.dry_run
            else [refresh_entry(o) for o in result.outcomes]
        )
    elif isinstance(result, PollResult):
        doc["results"] = (
            [_due(c, wouldPoll=True) for c in result.due]
            if result.dry_run
            else [_poll_entry(p) for p in result.polls]
        )
        if result.superseded:
            # Tokens refreshed for a poll, of grants the application replaced meanwhile.
            doc["tokensSuperseded"] = result.superseded
        if result.platform_errors:
            # With --results none the document is counts only: a platform's code, not the
            # provider's own words (a public repository publishes the document).
            errors = sorted(result.platform_errors.items())
            doc["platformErrors"] = {
                name: error_body(e.code, e.message) if result.keep != "none" else {"code": e.code}
                for name, e in errors
            }
    if result.skipped is not None:
        doc["skipped"] = _skipped(result.skipped, ids=result.keep != "none")
    if result.spool_applied:
        doc["spoolApplied"] = result.spool_applied
    if result.spool_superseded:
        # Spooled token sets of grants the application replaced since: revoked, not stored.
        doc["spoolSuperseded"] = result.spool_superseded
    if isinstance(result, RefreshResult) and result.leases_lost:
        # Rows another run took over before this one reached them: nothing was sent for them.
        doc["leasesLost"] = result.leases_lost
    if result.stopped:
        doc["stopped"] = result.stopped
    events = run_events(result)
    if events:
        doc["events"] = events
    if result.warnings:
        doc["warnings"] = list(result.warnings)
    if result.error is not None:
        doc["error"] = error_body(result.error.code, result.error.message)
    return doc


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
            entry["superseded"] = _superseded(outcome.revocation)
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


def _superseded(revocation: Revocation) -> Document:
    """A refresh of a grant the application replaced while it ran: its tokens were not stored;
    were they revoked?"""
    doc: Document = {"revoked": revocation.revoked}
    if revocation.already_invalid:
        doc["alreadyInvalid"] = True
    if revocation.reason:
        doc["reason"] = revocation.reason
    return doc


def _skipped(skipped: Sequence[Skipped], *, ids: bool) -> Document:
    """The connections of a --user selection that the run left alone: why, and when next due
    (with --results none, the counts only: no user id)."""
    doc: Document = {"count": len(skipped), "byReason": reasons(skipped)}
    if not ids:
        return doc
    return {
        **doc,
        "connections": [
            {
                "userId": s.connection.user_id,
                "platform": s.connection.platform,
                "connectionId": s.connection.id,
                "reason": s.reason,
                "nextDueAt": iso(s.next_due_at),
            }
            for s in skipped
        ],
    }


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
        entry["superseded"] = _superseded(poll.superseded)
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


# -- the other commands ---------------------------------------------------------------------------


def connection_document(conn: Connection) -> Document:
    """A connection as `tokens list` shows it: never a secret."""
    doc: Document = {
        "id": conn.id,
        "userId": conn.user_id,
        "platform": conn.platform,
        "status": conn.status,
        "tokenType": conn.token_type,
        "scope": conn.scope,
        "hasRefreshToken": conn.refresh_token_enc is not None,
        "expiresAt": iso(conn.expires_at),
        "refreshTokenExpiresAt": iso(conn.refresh_token_expires_at),
        "lastRefreshedAt": iso(conn.last_refreshed_at),
        "lastSyncAt": iso(conn.last_sync_at),
        "failureCount": conn.failure_count,
        "nextAttemptAt": iso(conn.next_attempt_at),
        "lastError": (
            error_body(conn.last_error_code, conn.last_error_message)
            if conn.last_error_code
            else None
        ),
        "createdAt": iso(conn.created_at),
        "updatedAt": iso(conn.updated_at),
    }
    if conn.unreadable:
        # Columns another program wrote as no time this program can read: shown as null.
        for column in conn.unreadable:
            if column in _CAMEL:
                doc[_CAMEL[column]] = None
        doc["unreadable"] = list(conn.unreadable)
    return doc


_CAMEL = {
    "expires_at": "expiresAt",
    "refresh_token_expires_at": "refreshTokenExpiresAt",
    "last_refreshed_at": "lastRefreshedAt",
    "last_sync_at": "lastSyncAt",
    "next_attempt_at": "nextAttemptAt",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
}


def token_document(token: AccessToken) -> Document:
    """What `tokens get` prints: the one document that holds a secret, on purpose."""
    return {
        "success": True,
        "userId": token.user_id,
        "platform": token.platform,
        "connectionId": token.connection_id,
        "accessToken": token.access_token,
        "tokenType": token.token_type,
        "expiresAt": iso(token.expires_at),
        "scope": token.scope,
        "refreshed": token.refreshed,
        **({"superseded": _superseded(token.superseded)} if token.superseded else {}),
    }


def connection_error_document(user_id: str, platform: str, error: TokensyncError) -> Document:
    """A command about one connection that failed: which connection, and the error."""
    return {
        "success": False,
        "timestamp": iso(datetime.now(UTC)),
        "userId": user_id,
        "platform": platform,
        "error": error_body(error.code, error.message),
    }


def disconnect_document(done: Disconnection) -> Document:
    """What `tokens disconnect` prints: what was revoked where (or why not), rows deleted."""
    doc: Document = {
        "success": True,
        "userId": done.user_id,
        "platform": done.platform,
        **_disconnection(done),
    }
    if done.dry_run:
        doc["dryRun"] = True
    return doc


def erase_document(receipt: Erasure) -> Document:
    """What `users erase` prints: the receipt, per connection and per table."""
    doc: Document = {"success": receipt.success, "userId": receipt.user_id}
    if receipt.dry_run:
        doc["dryRun"] = True
    doc["connections"] = [
        {"platform": d.platform, **_disconnection(d)} for d in receipt.connections
    ] + [
        {
            "platform": f.connection.platform,
            "connectionId": f.connection.id,
            "error": error_body(f.error.code, f.error.message),
        }
        for f in receipt.failures
    ]
    doc["wouldDelete" if receipt.dry_run else "deleted"] = dict(receipt.deleted)
    if receipt.event_id is not None:
        doc["event"] = {
            "id": receipt.event_id,
            "type": "user.erased",
            "holdsUserIdUntil": iso(receipt.event_holds_until),
        }
    return doc


def _disconnection(done: Disconnection) -> Document:
    revocation = done.revocation
    said: Document
    if done.dry_run:
        said = {"wouldRevoke": revocation.endpoint is not None and revocation.reason is None}
    else:
        said = {"revoked": revocation.revoked}
    if revocation.endpoint is not None:
        said["endpoint"] = revocation.endpoint
    if revocation.already_invalid:
        said["alreadyInvalid"] = True
    if revocation.reason is not None:
        said["reason"] = revocation.reason
    return {
        "connectionId": done.connection_id,
        "revocation": said,
        "wouldDelete" if done.dry_run else "deleted": dict(done.deleted),
    }


def import_document(counts: ImportCounts) -> Document:
    """What `tokens import` prints."""
    return {
        "success": True,
        "imported": counts.inserted + counts.updated,
        "inserted": counts.inserted,
        "updated": counts.updated,
    }


def migrate_document(engine: str, applied: list[int], schema_version: int) -> Document:
    """What `db migrate` prints."""
    return {
        "success": True,
        "engine": engine,
        "applied": applied,
        "schemaVersion": schema_version,
    }


def prune_document(result: PruneResult) -> Document:
    """What `data prune` prints."""
    doc: Document = {"success": True, "deletedBefore": iso(result.deleted_before)}
    if result.dry_run:
        doc.update(dryRun=True, wouldRemove=result.count)
    else:
        doc["removed"] = result.count
    return doc


def rotation_document(result: RotationResult) -> Document:
    """What `keys rotate` prints."""
    return {
        "success": result.success,
        "keys": result.keys,
        "rotated": result.rotated,
        "alreadyCurrent": result.current,
        "changedMeanwhile": result.changed,
        "failed": len(result.failures),
        "failures": [
            {
                "connectionId": conn.id,
                "userId": conn.user_id,
                "platform": conn.platform,
                "error": error_body(error.code, error.message),
            }
            for conn, error in result.failures[:ROTATION_FAILURES_SHOWN]
        ],
    }


def status_document(report: StatusReport) -> Document:
    """What `status` prints: counts, soonest expiries, connections needing attention, last runs."""
    by_status = report.by_status()
    return {
        "success": True,
        "database": {"engine": report.engine, "schemaVersion": report.schema_version},
        "connections": {
            "total": sum(by_status.values()),
            "byStatus": by_status,
            "byPlatform": report.by_platform(),
        },
        "soonestExpiry": [
            {
                "connectionId": e.connection_id,
                "userId": e.user_id,
                "platform": e.platform,
                "expiresAt": iso(e.expires_at),
            }
            for e in report.soonest
        ],
        "needsReauth": {
            "count": by_status.get("needs_reauth", 0),
            "connections": [
                {**_erring(r), "since": iso(r.updated_at)} for r in report.needs_reauth
            ],
        },
        "failing": {
            "count": report.failing_count,
            "connections": [
                {
                    **_erring(r),
                    "failures": r.failure_count,
                    "nextAttemptAt": iso(r.next_attempt_at),
                }
                for r in report.failing
            ],
        },
        "grantsEnding": {
            "withinSeconds": int(report.expiring_within),
            "count": report.grants_ending_count,
            "connections": [
                {
                    "connectionId": e.connection_id,
                    "userId": e.user_id,
                    "platform": e.platform,
                    "refreshTokenExpiresAt": iso(e.expires_at),
                }
                for e in report.grants_ending
            ],
        },
        "events": outbox_document(report),
        "webhook": webhook_document(report.endpoint) if report.webhook_configured else None,
        # null: the database is a file on this host, whose clock it shares.
        "clockSkew": (
            {
                "seconds": round(report.clock_skew.seconds, 3),
                "warningAfter": report.clock_skew.threshold,
                "tooFar": report.clock_skew.too_far,
            }
            if report.clock_skew is not None
            else None
        ),
        # A reader of `data changes` at an older position must read from the beginning.
        "changes": {"oldestPosition": report.oldest_position},
        # Configuration that will make the jobs fail; empty when there is none.
        "problems": [
            {"code": p.code, "platform": p.platform, "message": p.message} for p in report.problems
        ],
        "lastRuns": {
            r.command: {
                "runId": r.run_id,
                "startedAt": iso(r.started_at),
                "finishedAt": iso(r.finished_at),
                "success": r.success,
                "exitCode": r.exit_code,
                "summary": r.summary,
            }
            for r in report.last_runs
        },
    }


def _erring(row: Erring) -> Document:
    """A connection with its last error, as the needsReauth and failing lists show it."""
    return {
        "connectionId": row.connection_id,
        "userId": row.user_id,
        "platform": row.platform,
        "error": {"code": row.error_code, "message": row.error_message},
    }

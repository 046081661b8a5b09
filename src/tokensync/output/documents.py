"""The JSON documents tokensync prints, built from typed results, and the functions that print them.

Keys are camelCase, as the consumers of the old HTTP endpoints expect (DESIGN.md, Output).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tokensync.jobs.key_rotation import RotationResult
from tokensync.jobs.prune import PruneResult
from tokensync.jobs.results import (
    ConnectionPoll,
    EndpointResult,
    JobResult,
    Outcome,
    PollResult,
    RefreshResult,
)
from tokensync.jobs.status import StatusReport
from tokensync.output.stdout import Document, error_body
from tokensync.store import Connection
from tokensync.store.models import Erring, ImportCounts

# At most this many failures are listed by `keys rotate`; the count says how many there were.
ROTATION_FAILURES_SHOWN = 100


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp as the documents write it: 2026-11-28T14:07:30Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the jobs -------------------------------------------------------------------------------------


def job_document(result: JobResult) -> Document:
    """The document of a refresh-tokens or poll-platforms run (DESIGN.md, Output)."""
    doc: Document = {
        "success": result.success,
        "cronType": result.cron_type,
        "timestamp": iso(result.started_at),
        "durationMs": result.duration_ms,
        **result.counts(),
    }
    if result.dry_run:
        doc["dryRun"] = True
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
        if result.platform_errors:
            errors = sorted(result.platform_errors.items())
            doc["platformErrors"] = {name: error_body(e.code, e.message) for name, e in errors}
    if result.spool_applied:
        doc["spoolApplied"] = result.spool_applied
    if isinstance(result, RefreshResult) and result.leases_lost:
        # Rows another run took over before this one reached them: nothing was sent for them.
        doc["leasesLost"] = result.leases_lost
    if result.stopped:
        doc["stopped"] = result.stopped
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
        if outcome.new_expiry is not None or outcome.rotated is not None:
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
    return {
        "id": conn.id,
        "userId": conn.user_id,
        "platform": conn.platform,
        "status": conn.status,
        "tokenType": conn.token_type,
        "scope": conn.scope,
        "hasRefreshToken": conn.refresh_token_enc is not None,
        "expiresAt": iso(conn.expires_at),
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

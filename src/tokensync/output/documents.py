"""The JSON documents of the commands other than the two jobs (job_document.py), built from typed
results: `tokens list`'s entries, `tokens get`, `tokens disconnect`, `users erase`, `tokens import`,
`db migrate`, `data prune`, `keys rotate` and `status`.

Keys are camelCase, as the consumers of the old HTTP endpoints expect (src/tokensync/schemas holds
the schema of each).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tokensync.connections.disconnect import Disconnection
from tokensync.connections.erase import Erasure
from tokensync.connections.fresh_token import AccessToken
from tokensync.connections.key_rotation import RotationResult
from tokensync.connections.prune import PruneResult
from tokensync.connections.status import StatusReport
from tokensync.errors import TokensyncError
from tokensync.output.event_documents import outbox_document, webhook_document
from tokensync.output.job_views import superseded_body
from tokensync.output.stdout import Document, error_body
from tokensync.store import Connection
from tokensync.store.models import Erring, ImportCounts, OldGrants
from tokensync.times import iso

# At most this many failures are listed by `keys rotate`; the count says how many there were.
ROTATION_FAILURES_SHOWN = 100


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
        "providerUserId": conn.provider_user_id,
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
        **({"superseded": superseded_body(token.superseded)} if token.superseded else {}),
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
    """What `tokens import` prints: the counts, and what became of the grants it replaced."""
    doc: Document = {
        "success": True,
        "imported": counts.inserted + counts.updated,
        "inserted": counts.inserted,
        "updated": counts.updated,
    }
    if counts.old_grants is not None:
        doc["oldGrants"] = old_grants_body(counts.old_grants)
    return doc


def old_grants_body(old: OldGrants, *, ids: bool = True) -> Document:
    """The replaced grants an attempt dealt with: revoked, pending (retried by the next job
    run), not revoked (and why); each one unless `ids` is False (--results none)."""
    doc: Document = {
        "revoked": len(old.revoked),
        "pending": len(old.pending),
        "notRevoked": len(old.dropped),
    }
    if ids:
        doc["grants"] = [
            {
                "connectionId": g.connection_id,
                "userId": g.user_id,
                "platform": g.platform,
                "revoked": g.revoked,
                **({"reason": g.reason} if g.reason else {}),
            }
            for g in (*old.revoked, *old.pending, *old.dropped)
        ]
    return doc


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

"""The JSON documents tokensync prints, and the one function that prints them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from tokensync.errors import TokensyncError

if TYPE_CHECKING:
    from tokensync.jobs.refresher import Outcome
    from tokensync.store import Connection


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp as the documents write it: 2026-11-28T14:07:30Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def emit(document: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Write one JSON document to stdout: the only thing tokensync writes there."""
    out = stream or sys.stdout
    indent = 2 if out.isatty() else None
    out.write(json.dumps(document, indent=indent, ensure_ascii=False) + "\n")
    out.flush()


def error_document(error: TokensyncError, **extra: Any) -> dict[str, Any]:
    """The document of a command that failed as a whole."""
    return {"success": False, **extra, "error": {"code": error.code, "message": error.message}}


def duration_ms(started: datetime, finished: datetime | None) -> int:
    """Milliseconds between two instants."""
    return int(((finished or started) - started).total_seconds() * 1000)


def refresh_document(result: Any) -> dict[str, Any]:
    """The refresh-tokens document of DESIGN.md."""
    doc: dict[str, Any] = {
        "success": result.success,
        "cronType": "token-refresh",
        "timestamp": iso(result.started_at),
        "durationMs": duration_ms(result.started_at, result.finished_at),
        "tokensChecked": result.checked,
        "tokensRefreshed": result.refreshed,
        "tokensFailed": result.failed,
        "needsReauth": result.needs_reauth,
    }
    if result.dry_run:
        doc["dryRun"] = True
        doc["results"] = [_due(c) for c in result.due]
    else:
        doc["results"] = [refresh_result(o) for o in result.outcomes]
    if result.spool_applied:
        doc["spoolApplied"] = result.spool_applied
    if result.leases_lost:
        # Rows another run took over before this one reached them: nothing was sent for them.
        doc["leasesLost"] = result.leases_lost
    if result.stopped:
        doc["stopped"] = result.stopped
    if result.error is not None:
        doc["error"] = {"code": result.error.code, "message": result.error.message}
    return doc


def refresh_result(outcome: Outcome) -> dict[str, Any]:
    """One entry of the refresh document's results."""
    conn = outcome.connection
    entry: dict[str, Any] = {
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
        entry["error"] = {"code": outcome.error_code, "message": outcome.error_message or ""}
    if outcome.next_attempt_at is not None:
        entry["nextAttemptAt"] = iso(outcome.next_attempt_at)
    return entry


def _due(conn: Connection) -> dict[str, Any]:
    return {
        "platform": conn.platform,
        "userId": conn.user_id,
        "connectionId": conn.id,
        "success": True,
        "wouldRefresh": True,
        "expiresAt": iso(conn.expires_at),
    }


def connection_document(conn: Connection) -> dict[str, Any]:
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
            {"code": conn.last_error_code, "message": conn.last_error_message}
            if conn.last_error_code
            else None
        ),
        "createdAt": iso(conn.created_at),
        "updatedAt": iso(conn.updated_at),
    }


def emit_array(items: Iterable[Mapping[str, Any]], stream: TextIO | None = None) -> None:
    """Write a JSON array an element at a time, so a long listing never sits in memory."""
    out = stream or sys.stdout
    out.write("[")
    for index, item in enumerate(items):
        out.write(("," if index else "") + "\n" + json.dumps(item, ensure_ascii=False))
    out.write("\n]\n")
    out.flush()


def poll_document(result: Any) -> dict[str, Any]:
    """The poll-platforms document of DESIGN.md."""
    doc: dict[str, Any] = {
        "success": result.success,
        "cronType": "platform-polling",
        "timestamp": iso(result.started_at),
        "durationMs": duration_ms(result.started_at, result.finished_at),
        "userCount": len(result.users),
        "platformCount": result.connections,
        "pollsSuccessful": result.successful,
        "pollsFailed": result.failed,
        "itemsFetched": result.fetched,
        "itemsStored": result.stored,
    }
    if result.dry_run:
        doc["dryRun"] = True
        doc["results"] = [
            {
                "userId": c.user_id,
                "platform": c.platform,
                "connectionId": c.id,
                "success": True,
                "wouldPoll": True,
            }
            for c in result.due
        ]
    else:
        doc["results"] = [_poll_entry(p) for p in result.polls]
    if result.platform_errors:
        doc["platformErrors"] = {
            name: {"code": e.code, "message": e.message}
            for name, e in sorted(result.platform_errors.items())
        }
    if result.spool_applied:
        doc["spoolApplied"] = result.spool_applied
    if result.stopped:
        doc["stopped"] = result.stopped
    if result.error is not None:
        doc["error"] = {"code": result.error.code, "message": result.error.message}
    return doc


def _poll_entry(poll: Any) -> dict[str, Any]:
    conn = poll.connection
    entry: dict[str, Any] = {
        "userId": conn.user_id,
        "platform": conn.platform,
        "connectionId": conn.id,
        "success": poll.success,
        "results": [],
    }
    for e in poll.endpoints:
        item: dict[str, Any] = {
            "endpoint": e.endpoint,
            "success": e.success,
            "itemCount": e.fetched,
            "newItems": e.new,
        }
        if e.error_code:
            item["error"] = {"code": e.error_code, "message": e.error_message or ""}
        entry["results"].append(item)
    if poll.error_code:
        entry["error"] = {"code": poll.error_code, "message": poll.error_message or ""}
    return entry

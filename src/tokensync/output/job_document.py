"""The document of a refresh-tokens or poll-platforms run: the frame every run shares, and what
its kind adds (job_views.py)."""

from __future__ import annotations

from collections.abc import Sequence

from tokensync.jobs.results import JobResult, Skipped
from tokensync.jobs.skipped import reasons
from tokensync.output.documents import old_grants_body
from tokensync.output.event_documents import run_events
from tokensync.output.job_views import view_of
from tokensync.output.stdout import Document, error_body
from tokensync.times import iso


def job_document(result: JobResult) -> Document:
    """The document of a job run (docs/reference/schemas.md names its schema)."""
    view = view_of(result)
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
    doc["results"] = view.entries()
    doc.update(view.fields())
    if result.skipped is not None:
        doc["skipped"] = _skipped(result.skipped, ids=result.keep != "none")
    if result.spool_applied:
        doc["spoolApplied"] = result.spool_applied
    if result.spool_superseded:
        # Spooled token sets of grants the application replaced since: revoked, not stored.
        doc["spoolSuperseded"] = result.spool_superseded
    if result.old_grants is not None:
        doc["oldGrants"] = old_grants_body(result.old_grants, ids=result.keep != "none")
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

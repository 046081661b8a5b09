"""`status`: what the database holds, what needs attention, and how the jobs last ran."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokensync.report import iso
from tokensync.store import Store


def status_document(store: Store, *, limit: int = 20) -> dict[str, Any]:
    """Counts by platform and status, soonest expiries, re-authorisation list, last runs."""
    by_platform: dict[str, dict[str, int]] = {}
    by_status: dict[str, int] = {}
    for row in store.status_counts():
        by_platform.setdefault(row["platform"], {})[row["status"]] = int(row["n"])
        by_status[row["status"]] = by_status.get(row["status"], 0) + int(row["n"])
    reauth = store.needs_reauth(limit)
    failing_count, failing = store.failing(limit)
    return {
        "success": True,
        "database": {"engine": store.engine, "schemaVersion": store.schema_version()},
        "connections": {
            "total": sum(by_status.values()),
            "byStatus": by_status,
            "byPlatform": by_platform,
        },
        "soonestExpiry": [
            {
                "connectionId": r["id"],
                "userId": r["user_id"],
                "platform": r["platform"],
                "expiresAt": iso(r["expires_at"]),
            }
            for r in store.soonest_expiries(5)
        ],
        "needsReauth": {
            "count": by_status.get("needs_reauth", 0),
            "connections": [{**_erring(r), "since": iso(r["updated_at"])} for r in reauth],
        },
        "failing": {
            "count": failing_count,
            "connections": [
                {
                    **_erring(r),
                    "failures": int(r["failure_count"]),
                    "nextAttemptAt": iso(r["next_attempt_at"]),
                }
                for r in failing
            ],
        },
        "lastRuns": {
            r["command"]: {
                "runId": r["run_id"],
                "startedAt": iso(r["started_at"]),
                "finishedAt": iso(r["finished_at"]),
                "success": r["success"],
                "exitCode": r["exit_code"],
                "summary": r["summary"],
            }
            for r in store.last_runs()
        },
    }


def _erring(row: Mapping[str, Any]) -> dict[str, Any]:
    """A connection with its last error, as the needsReauth and failing lists show it."""
    return {
        "connectionId": row["id"],
        "userId": row["user_id"],
        "platform": row["platform"],
        "error": {"code": row["last_error_code"], "message": row["last_error_message"]},
    }

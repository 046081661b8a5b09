"""What `status` and the runs table ask of the store: counts by status, soonest expiries, failing
connections, grants ending, and each job's runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tokensync.store.engine import Engine, Row, filter_params, time_or_none
from tokensync.store.models import (
    Erring,
    Expiring,
    Filters,
    RunRecord,
    StatusCount,
)


class ReportingMixin(Engine):
    """Status counts and run records, shared by both engines."""

    def grant_deaths(self, platforms: Sequence[str], limit: int) -> list[tuple[datetime, datetime]]:
        """The newest dead first grants of these platforms: (made, found dead) of each."""
        params = {**filter_params(Filters(platforms=tuple(platforms))), "limit": limit}
        rows = self._run("grant_deaths", params)
        return [
            (made, died)
            for r in rows
            if (made := time_or_none(r["created_at"])) and (died := time_or_none(r["updated_at"]))
        ]

    def status_counts(self) -> list[StatusCount]:
        """Connections counted by platform and status."""
        return [
            StatusCount(r["platform"], r["status"], int(r["n"]))
            for r in self._run("status_counts", {})
        ]

    def soonest_expiries(self, limit: int) -> list[Expiring]:
        """The active connections whose access tokens expire first."""
        rows = self._run("soonest_expiries", {"limit": limit})
        return [
            Expiring(r["id"], r["user_id"], r["platform"], time_or_none(r["expires_at"]))
            for r in rows
        ]

    def failing(self, limit: int) -> tuple[int, list[Erring]]:
        """How many active connections failed their last refresh, and the latest of them."""
        count = int(self._run("count_failing", {})[0]["n"])
        rows = self._run("failing", {"limit": limit}) if count else []
        return count, [_erring(r) for r in rows]

    def grant_ends(self, before: datetime, limit: int) -> tuple[int, list[Expiring]]:
        """How many active grants end before `before`, and those that end first."""
        params = {"ends_before": before, "limit": limit}
        count = int(self._run("count_grant_ends", params)[0]["n"])
        rows = self._run("grant_ends", params) if count and limit else []
        return count, [
            Expiring(r["id"], r["user_id"], r["platform"], r["refresh_token_expires_at"])
            for r in rows
        ]

    def needs_reauth(self, limit: int) -> list[Erring]:
        """Connections waiting for their user to reconnect, newest first."""
        return [_erring(r) for r in self._run("needs_reauth", {"limit": limit})]

    def start_run(self, run_id: str, command: str, started_at: datetime) -> None:
        """Record that a job run began."""
        self._rowcount(
            "start_run", {"run_id": run_id, "command": command, "started_at": started_at}
        )

    def finish_run(
        self,
        run_id: str,
        *,
        finished_at: datetime,
        success: bool,
        exit_code: int,
        summary: Mapping[str, object],
    ) -> None:
        """Record how a job run ended, with its counts."""
        params = {
            "run_id": run_id,
            "finished_at": finished_at,
            "success": success,
            "exit_code": exit_code,
            "summary": dict(summary),
        }
        self._rowcount("finish_run", params)

    def last_runs(self, commands: Sequence[str]) -> list[RunRecord]:
        """The latest run of each of these commands (that has run)."""
        return [
            RunRecord(
                run_id=r["run_id"],
                command=r["command"],
                started_at=time_or_none(r["started_at"]),
                finished_at=time_or_none(r["finished_at"]),
                success=r["success"],
                exit_code=r["exit_code"],
                summary=r["summary"],
            )
            for r in self._run("last_runs", {"commands": list(commands)})
        ]


def _erring(row: Row) -> Erring:
    return Erring(
        connection_id=row["id"],
        user_id=row["user_id"],
        platform=row["platform"],
        error_code=row["last_error_code"],
        error_message=row["last_error_message"],
        failure_count=int(row.get("failure_count") or 0),
        next_attempt_at=time_or_none(row.get("next_attempt_at")),
        updated_at=time_or_none(row["updated_at"]),
    )

"""The repository interface the jobs use, implemented once over an engine's few primitives.

An engine (sqlite.py, postgres.py) supplies: running a named query, a write transaction that
rolls back unless it completes, the claim transaction, and its migrations. Everything else (what
the jobs ask for, in the jobs' words) lives here, so the two engines cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Literal

from tokensync.errors import NoDatabaseError, SchemaTooNewError, SchemaTooOldError
from tokensync.redaction import stored_error
from tokensync.store import outbox
from tokensync.store.changes import ChangesMixin
from tokensync.store.deliveries import DeliveryMixin
from tokensync.store.engine import Row, filter_params, time_or_none
from tokensync.store.importing import ImportMixin
from tokensync.store.models import (
    Connection,
    Erring,
    Expiring,
    Filters,
    RunRecord,
    StatusCount,
)
from tokensync.store.outbox import OutboxMixin
from tokensync.store.polling import PollingMixin
from tokensync.store.removal import RemovalMixin

# What became of a spooled token set: stored, older than what the row holds, or of a grant the
# application replaced since (its tokens are to be revoked, never stored).
SpoolApplied = Literal["applied", "stale", "superseded"]


def migrations(engine: str) -> list[tuple[int, str]]:
    """The numbered migrations of an engine, in order."""
    folder = resources.files("tokensync.store").joinpath("migrations", engine)
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_\w+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Store(ImportMixin, PollingMixin, RemovalMixin, ChangesMixin, OutboxMixin, DeliveryMixin):
    """One database of connections, polled data, sync state, runs and events."""

    # -- schema ------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The newest migration applied to this database (0 when empty)."""
        versions = self._applied_versions()
        return versions[-1] if versions else 0

    def migrate(self, now: datetime) -> list[int]:
        """Apply the missing migrations in order; refuse a schema newer than this program."""
        known = migrations(self.engine)
        latest = known[-1][0] if known else 0
        applied = set(self._applied_versions())
        current = max(applied, default=0)
        if current > latest:
            raise SchemaTooNewError(
                f"the database schema is version {current}, newer than this tokensync "
                f"(which knows up to {latest}): upgrade tokensync"
            )
        # Every one not applied, a lower number that landed after a higher one too (branches
        # number their migrations apart).
        return [v for v, script in known if v not in applied and self._apply(v, script, now)]

    def require_schema(self, where: str, *, older_ok: bool = False) -> None:
        """For a command that only reads: the schema must be this program's, since only a
        migration may create or change it (never a typo's empty database). `where` names the
        database in the message. `older_ok`: any tokensync schema will do (a command that
        removes, which migrates an older one but never creates one)."""
        known = migrations(self.engine)
        latest = known[-1][0] if known else 0
        applied = set(self._applied_versions())
        current = max(applied, default=0)
        if current == 0:
            raise NoDatabaseError(
                f"{where} holds no tokensync schema: check the database URL, or create the "
                "schema with `tokensync db migrate`"
            )
        if current > latest:
            raise SchemaTooNewError(
                f"the database schema is version {current}, newer than this tokensync "
                f"(which knows up to {latest}): upgrade tokensync"
            )
        missing = [v for v, _ in known if v not in applied]
        if missing and not older_ok:
            older = (
                f"version {current}, older than this tokensync ({latest})"
                if current < latest
                else f"without migration {', '.join(map(str, missing))} of this tokensync"
            )
            raise SchemaTooOldError(
                f"the database schema is {older}: run `tokensync db migrate` (or let a job run, "
                "which migrates)"
            )

    def database_id(self) -> str:
        """The identity this database holds (made by migration 2), the same whatever the URL."""
        rows = self._run("database_id", {})
        return str(rows[0]["database_id"])

    # -- connections -------------------------------------------------------------------------

    def iter_connections(
        self,
        filters: Filters = Filters(),  # noqa: B008 - frozen, so one shared default is safe
        *,
        statuses: Sequence[str] = (),
        after_id: int = 0,
        limit: int | None = None,
        page: int = 500,
    ) -> Iterator[Connection]:
        """The connections matching the filters (and any of `statuses`), by id, after `after_id`,
        at most `limit`: read a page at a time, so memory stays flat however many there are."""
        left = limit
        while left is None or left > 0:
            size = page if left is None else min(page, left)
            rows = self.connection_page(filters, statuses, after_id, size)
            yield from rows
            if len(rows) < size:
                return
            after_id = rows[-1].id
            if left is not None:
                left -= len(rows)

    def connection_page(
        self, filters: Filters, statuses: Sequence[str], after_id: int, limit: int
    ) -> list[Connection]:
        """One page of iter_connections: one status reads its own index."""
        params = {"after_id": after_id, "limit": limit, **filter_params(filters)}
        if len(statuses) == 1:
            rows = self._run("list_connections_by_status", {**params, "status": statuses[0]})
        else:
            all_statuses = {"all_statuses": not statuses, "statuses": list(statuses)}
            rows = self._run("list_connections", {**params, **all_statuses})
        return [self._connection(r) for r in rows]

    def has_connections(self) -> bool:
        """Whether any connection (and so any token encrypted with some key) is stored."""
        return bool(self._run("has_connections", {})[0]["present"])

    def newest_ciphertexts(self, limit: int) -> list[str]:
        """The access-token ciphertexts of the newest `limit` connections (a keyring's sample)."""
        rows = self._run("newest_ciphertexts", {"limit": limit})
        return [str(r["access_token_enc"]) for r in rows]

    def get_connection(self, connection_id: int) -> Connection | None:
        """One connection by id."""
        rows = self._run("get_connection", {"id": connection_id})
        return self._connection(rows[0]) if rows else None

    def find_connection(self, user_id: str, platform: str) -> Connection | None:
        """One connection by its user and platform."""
        rows = self._run("find_connection", {"user_id": user_id, "platform": platform})
        return self._connection(rows[0]) if rows else None

    def user_connections(self, user_ids: Sequence[str]) -> list[Connection]:
        """Every connection of these users, whatever its status, by id."""
        return [
            self._connection(r) for r in self._run("user_connections", {"users": list(user_ids)})
        ]

    # -- the refresh job ---------------------------------------------------------------------

    def claim_due_refreshes(
        self,
        owner: str,
        *,
        now: datetime,
        lease_until: datetime,
        due_before: datetime,
        stale_before: datetime,
        limit: int,
        filters: Filters,
        run_started: datetime | None = None,
        retry_before: datetime | None = None,
    ) -> list[Connection]:
        """Lease up to `limit` connections due for refresh to `owner`; nobody else gets them.

        Rows whose tokens were renewed since `run_started` are not due again in the same run,
        whatever the window: a window longer than a token's lifetime must not loop. Rows backing
        off until after `retry_before` (default: now) are not due.
        """
        params = {
            "owner": owner,
            "now": now,
            "run_started": run_started or now,
            "retry_before": retry_before or now,
            "lease_until": lease_until,
            "lease_seconds": _seconds(lease_until, now),
            "due_before": due_before,
            "stale_before": stale_before,
            "limit": limit,
            **filter_params(filters),
        }
        with self.claiming():
            rows = self._run("claim_due_refreshes", params)
        return sorted((self._connection(r) for r in rows), key=_expiry_order)

    def find_due_refreshes(
        self,
        *,
        now: datetime,
        due_before: datetime,
        stale_before: datetime,
        after_id: int,
        limit: int,
        filters: Filters,
        retry_before: datetime | None = None,
    ) -> list[Connection]:
        """What a claim would take, without taking it (for --dry-run), a page at a time."""
        params = {
            "owner": "",
            "now": now,
            "run_started": now,
            "retry_before": retry_before or now,
            "due_before": due_before,
            "stale_before": stale_before,
            "after_id": after_id,
            "limit": limit,
            **filter_params(filters),
        }
        return [self._connection(r) for r in self._run("find_due_refreshes", params)]

    def claim_one(
        self,
        connection_id: int,
        owner: str,
        *,
        now: datetime,
        lease_until: datetime,
        any_status: bool = False,
    ) -> Connection | None:
        """Lease one active connection (any connection, with `any_status`) if nobody else holds
        it (or extend our own lease)."""
        params = {
            "id": connection_id,
            "owner": owner,
            "now": now,
            "lease_until": lease_until,
            "lease_seconds": _seconds(lease_until, now),
            "any_status": any_status,
        }
        with self.claiming():
            rows = self._run("claim_one", params)
        return self._connection(rows[0]) if rows else None

    def save_refreshed(
        self,
        connection_id: int,
        owner: str,
        *,
        access_token_enc: str,
        refresh_token_enc: str | None,
        previous_refresh_enc: str | None,
        grant_generation: int,
        expires_at: datetime | None,
        now: datetime,
        refresh_token_expires_at: datetime | None = None,
    ) -> bool:
        """Store a new token set and end the lease, committed at once.

        Written only while the row holds the grant `grant_generation` the refresh started from
        (a newer grant the application wrote always wins), and while `owner` holds the lease or,
        if it lapsed, the stored refresh token is still the one that was used: then nobody else
        has refreshed meanwhile. The grant's end is kept unless the refresh reported a new one.
        """
        params = {
            "id": connection_id,
            "owner": owner,
            "grant_generation": grant_generation,
            "previous_refresh_enc": previous_refresh_enc,
            "access_token_enc": access_token_enc,
            "refresh_token_enc": refresh_token_enc,
            "expires_at": expires_at,
            "refresh_token_expires_at": refresh_token_expires_at,
            "now": now,
        }
        return self._rowcount("save_refreshed", params) == 1

    def apply_spooled(
        self,
        connection_id: int,
        user_id: str,
        platform: str,
        *,
        access_token_enc: str,
        refresh_token_enc: str | None,
        expires_at: datetime | None,
        issued_at: datetime,
        now: datetime,
        grant_generation: int | None = None,
    ) -> SpoolApplied:
        """Store spooled tokens unless the row got newer tokens since they were issued or holds
        a newer grant than `grant_generation` (None: an entry spooled before schema 8, which
        named none); say which."""
        params = {
            "id": connection_id,
            "user_id": user_id,
            "platform": platform,
            "access_token_enc": access_token_enc,
            "refresh_token_enc": refresh_token_enc,
            "expires_at": expires_at,
            "issued_at": issued_at,
            "now": now,
            "grant_generation": grant_generation,
        }
        with self.transaction():
            before = self._run("lock_connection", {"id": connection_id})
            after = self._run("apply_spooled", params)
            # Tokens issued after the grant was marked dead prove it alive: a recovery.
            if before and after and before[0]["status"] != after[0]["status"] == "active":
                self._emit(outbox.recovered(before[0], before[0]["status"]), now)
        if after:
            return "applied"
        if (
            before
            and grant_generation is not None
            and int(before[0]["grant_generation"]) != grant_generation
        ):
            return "superseded"
        return "stale"

    def record_failure(
        self,
        connection_id: int,
        owner: str,
        *,
        code: str,
        message: str,
        next_attempt_at: datetime | None,
        now: datetime,
        grant_generation: int,
    ) -> int | None:
        """Count a transient failure of the grant `grant_generation` and set the back-off;
        return the new failure count (None: the row holds another grant or lease now)."""
        code, message = stored_error(code, message)
        params = {
            "id": connection_id,
            "owner": owner,
            "grant_generation": grant_generation,
            "code": code,
            "message": message,
            "next_attempt_at": next_attempt_at,
            "now": now,
        }
        rows = self._run("record_failure", params)
        return int(rows[0]["failure_count"]) if rows else None

    def mark_needs_reauth(
        self,
        connection_id: int,
        owner: str,
        *,
        refresh_token_enc: str,
        grant_generation: int,
        code: str,
        message: str,
        now: datetime,
    ) -> bool:
        """Mark a dead grant, only if the refresh token stored is still the one that failed, of
        the same grant; connection.needs_reauth says so in the same transaction."""
        code, message = stored_error(code, message)
        params = {
            "id": connection_id,
            "owner": owner,
            "grant_generation": grant_generation,
            "refresh_token_enc": refresh_token_enc,
            "code": code,
            "message": message,
            "now": now,
        }
        with self.transaction():
            marked = self._run("mark_needs_reauth", params)
            for row in marked:
                self._emit(outbox.needs_reauth(row, code, message), now)
        return bool(marked)

    def confirm_lease(
        self,
        connection_id: int,
        owner: str,
        *,
        refresh_token_enc: str,
        grant_generation: int,
        now: datetime,
        lease_until: datetime,
    ) -> bool:
        """Compare and set, just before a refresh token is sent: `owner` still holds the lease
        and the token is still the stored one, of the same grant. Extends the lease to
        `lease_until` (by the engine's lease clock) and marks the row as sent."""
        params = {
            "id": connection_id,
            "owner": owner,
            "refresh_token_enc": refresh_token_enc,
            "grant_generation": grant_generation,
            "now": now,
            "lease_until": lease_until,
            "lease_seconds": _seconds(lease_until, now),
        }
        return self._rowcount("confirm_lease", params) == 1

    def renew_leases(
        self, connection_ids: Sequence[int], owner: str, *, now: datetime, lease_until: datetime
    ) -> set[int]:
        """Extend the live leases `owner` holds on these connections; return the ids renewed."""
        if not connection_ids:
            return set()
        params = {
            "owner": owner,
            "ids": list(connection_ids),
            "now": now,
            "lease_until": lease_until,
            "lease_seconds": _seconds(lease_until, now),
        }
        return {int(r["id"]) for r in self._run("renew_leases", params)}

    def release(self, connection_ids: Sequence[int], owner: str) -> None:
        """Give back the leases `owner` holds on these connections."""
        if connection_ids:
            self._rowcount("release", {"owner": owner, "ids": list(connection_ids)})

    # -- key rotation --------------------------------------------------------------------------

    def token_page(self, after_id: int, limit: int) -> list[Connection]:
        """A page of connections by id, for re-encryption."""
        rows = self._run("token_page", {"after_id": after_id, "limit": limit})
        return [self._connection(r) for r in rows]

    def replace_ciphertexts(
        self, updates: Sequence[tuple[int, str, str | None, str, str | None]]
    ) -> int:
        """Swap (id, old access, old refresh, new access, new refresh) where still unchanged."""
        done = 0
        with self.transaction():
            for cid, old_access, old_refresh, new_access, new_refresh in updates:
                params = {
                    "id": cid,
                    "old_access": old_access,
                    "old_refresh": old_refresh,
                    "new_access": new_access,
                    "new_refresh": new_refresh,
                }
                done += self._rowcount("replace_ciphertexts", params)
        return done

    # -- status and runs -----------------------------------------------------------------------

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
        rows = self._run("grant_ends", params) if count else []
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

    # -- helpers -------------------------------------------------------------------------------


def _seconds(until: datetime, now: datetime) -> float:
    """A lease's length, for the engine that counts it from its own clock (PostgreSQL)."""
    return (until - now).total_seconds()


def _expiry_order(c: Connection) -> tuple[int, str, int]:
    return (c.expires_at is None, c.expires_at.isoformat() if c.expires_at else "", c.id)


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

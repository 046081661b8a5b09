"""What the refresh job asks of the store: claiming due connections under a lease, checking the
lease just before a refresh token is sent, storing the new tokens (or a failure, or a dead grant)
for the grant generation they came from, and applying a spooled token set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from tokensync.redaction import stored_error
from tokensync.store import outbox
from tokensync.store.engine import RowWrite, filter_params
from tokensync.store.models import (
    Connection,
    Filters,
)
from tokensync.store.outbox import OutboxMixin

# What became of a spooled token set: stored, older than what the row holds, or of a grant the
# application replaced since (its tokens are to be revoked, never stored).
SpoolApplied = Literal["applied", "stale", "superseded"]


class RefreshMixin(OutboxMixin):
    """Leases and refreshed tokens, shared by both engines."""

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
        """Store a new token set and end the lease, committed at once (refreshed_save)."""
        return self.write_rows(
            [
                refreshed_save(
                    connection_id,
                    owner,
                    access_token_enc=access_token_enc,
                    refresh_token_enc=refresh_token_enc,
                    previous_refresh_enc=previous_refresh_enc,
                    grant_generation=grant_generation,
                    expires_at=expires_at,
                    now=now,
                    refresh_token_expires_at=refresh_token_expires_at,
                )
            ]
        )[0]

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
        """The compare and set just before a refresh token is sent (lease_check)."""
        check = lease_check(
            connection_id,
            owner,
            refresh_token_enc=refresh_token_enc,
            grant_generation=grant_generation,
            now=now,
            lease_until=lease_until,
        )
        return self.write_rows([check])[0]

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


def lease_check(
    connection_id: int,
    owner: str,
    *,
    refresh_token_enc: str,
    grant_generation: int,
    now: datetime,
    lease_until: datetime,
) -> RowWrite:
    """Compare and set, just before a refresh token is sent: `owner` still holds the lease and
    the token is still the stored one, of the same grant. Extends the lease to `lease_until` (by
    the engine's lease clock) and marks the row as sent. Written by Engine.write_rows."""
    params = {
        "id": connection_id,
        "owner": owner,
        "refresh_token_enc": refresh_token_enc,
        "grant_generation": grant_generation,
        "now": now,
        "lease_until": lease_until,
        "lease_seconds": _seconds(lease_until, now),
    }
    return RowWrite("confirm_lease", params)


def refreshed_save(
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
) -> RowWrite:
    """Store a new token set and end the lease.

    Written only while the row holds the grant `grant_generation` the refresh started from (a
    newer grant the application wrote always wins), and while `owner` holds the lease or, if it
    lapsed, the stored refresh token is still the one that was used: then nobody else has
    refreshed meanwhile. The grant's end is kept unless the refresh reported a new one.
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
    return RowWrite("save_refreshed", params)


def _seconds(until: datetime, now: datetime) -> float:
    """A lease's length, for the engine that counts it from its own clock (PostgreSQL)."""
    return (until - now).total_seconds()


def _expiry_order(c: Connection) -> tuple[int, str, int]:
    return (c.expires_at is None, c.expires_at.isoformat() if c.expires_at else "", c.id)

"""What the poll job asks of the store: claiming connections to poll, items, and cursors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tokensync.errors import LeaseLostError
from tokensync.store.engine import Row, filter_params
from tokensync.store.models import (
    Announcement,
    BatchCounts,
    BatchWrite,
    Connection,
    Filters,
    SyncCursor,
)
from tokensync.store.outbox import OutboxMixin, data_changed, event_params


def lease_lost(params: dict[str, Any]) -> LeaseLostError:
    """The error of a batch refused because another run moved the endpoint's walk on."""
    return LeaseLostError(
        f"{params['platform']} {params['endpoint']}: another run took over this connection's "
        "poll; this run stops polling it"
    )


def _cursor(row: Row) -> SyncCursor:
    return SyncCursor(
        cursor=row["cursor"],
        etag=row["etag"],
        extra=dict(row["extra"] or {}),
        generation=int(row["generation"]),
    )


def counts_of(rows: list[Row], deleted: int) -> BatchCounts:
    """What a batch did, from the rows its upsert returned and the items it tombstoned."""
    # An item only stamped as seen by the walk is neither new nor changed.
    stored = [r for r in rows if r["touched"]]
    new = sum(1 for r in stored if r["inserted"])
    return BatchCounts(new=new, changed=len(stored) - new, deleted=deleted)


def announced_params(params: dict[str, Any], announce: Announcement) -> dict[str, Any]:
    """A batch's parameters with those of its poll's data.changed event, for a statement that
    writes both and adds the batch's counts to `announce.earlier` (:earlier_*) itself."""
    where = (params["user_id"], params["platform"], params["endpoint"])
    event = data_changed(announce.connection_id, *where, BatchCounts())
    earlier = announce.earlier
    return {
        **params,
        **event_params(event, params["now"]),
        "earlier_new": earlier.new,
        "earlier_changed": earlier.changed,
        "earlier_deleted": earlier.deleted,
    }


class PollingMixin(OutboxMixin):
    """The poll job's queries, shared by both engines."""

    def claim_due_polls(
        self,
        owner: str,
        *,
        now: datetime,
        lease_until: datetime,
        next_poll_at: datetime,
        due_before: datetime,
        platform: str,
        limit: int,
        filters: Filters,
    ) -> list[Connection]:
        """Lease up to `limit` connections of one platform due for polling by `due_before` (their
        poll lease, not the token lease); the --user filter applies, --platform is the caller's
        choice of `platform`."""
        params = {
            "owner": owner,
            "now": now,
            "lease_until": lease_until,
            "next_poll_at": next_poll_at,
            "due_before": due_before,
            "platform": platform,
            "limit": limit,
            **filter_params(filters),
        }
        with self.claiming():
            rows = self._run("claim_due_polls", params)
        return sorted((self._connection(r) for r in rows), key=lambda c: c.id)

    def note_provider_user(self, connection_id: int, grant: int, provider_user_id: str) -> bool:
        """Store the account id a poll learned (GitHub's GET /user) for the grant it polled
        with; whether it changed the row (a grant replaced meanwhile is left alone)."""
        params = {"id": connection_id, "grant": grant, "provider_user_id": provider_user_id}
        with self.transaction():
            return self._rowcount("note_provider_user", params) == 1

    def find_due_polls(
        self,
        *,
        now: datetime,
        platform: str,
        after_id: int,
        limit: int,
        filters: Filters,
        due_before: datetime | None = None,
    ) -> list[Connection]:
        """What a poll claim of `platform` would take, without taking it (for --dry-run)."""
        params = {
            "now": now,
            "due_before": due_before or now,
            "platform": platform,
            "after_id": after_id,
            "limit": limit,
            **filter_params(filters),
        }
        return [self._connection(r) for r in self._run("find_due_polls", params)]

    def extend_poll_lease(self, connection_id: int, owner: str, lease_until: datetime) -> bool:
        """Keep polling a connection that takes long; False if the lease was lost."""
        params = {"id": connection_id, "owner": owner, "lease_until": lease_until}
        return self._rowcount("extend_poll_lease", params) == 1

    def finish_polls(
        self, finished: Sequence[tuple[int, bool]], owner: str, *, now: datetime
    ) -> None:
        """End the poll leases of these (connection id, whether its poll succeeded) in one
        statement; a success sets last_sync_at."""
        if finished:
            params = {
                "ids": [connection_id for connection_id, _ in finished],
                "succeeded": [connection_id for connection_id, success in finished if success],
                "owner": owner,
                "now": now,
            }
            self._rowcount("finish_polls", params)

    def release_polls(self, connection_ids: Sequence[int], owner: str) -> None:
        """Give back poll leases of connections this run claimed and never polled."""
        if connection_ids:
            self._rowcount("release_polls", {"owner": owner, "ids": list(connection_ids)})

    def sync_states(self, user_id: str, platform: str) -> dict[str, SyncCursor]:
        """The stored cursors of one connection's endpoints (none before their first poll)."""
        rows = self._run("get_sync_states", {"user_id": user_id, "platform": platform})
        return {row["endpoint"]: _cursor(row) for row in rows}

    def sync_states_of(
        self, platform: str, user_ids: Sequence[str]
    ) -> dict[str, dict[str, SyncCursor]]:
        """sync_states of these users' connections to one platform (a claim's batch) in one
        query, by user; a user with none stored has an empty mapping."""
        states: dict[str, dict[str, SyncCursor]] = {user: {} for user in user_ids}
        if user_ids:
            params = {"platform": platform, "users": list(user_ids)}
            for row in self._run("get_sync_states_of", params):
                states[row["user_id"]][row["endpoint"]] = _cursor(row)
        return states

    def save_batch(
        self,
        user_id: str,
        platform: str,
        endpoint: str,
        batch: BatchWrite,
        now: datetime,
        announce: Announcement | None = None,
    ) -> BatchCounts:
        """Upsert items, tombstone what is gone and move the cursor, in one transaction; with
        `announce`, the batch ends a poll of the endpoint, and the same transaction writes the
        poll's data.changed event if the poll changed anything."""
        # The last of several items with one key wins, as if they were stored one by one
        # (and PostgreSQL refuses to upsert one row twice in a statement).
        latest = {item.key: item.data for item in batch.items}
        state = batch.state
        params = {
            "user_id": user_id,
            "platform": platform,
            "endpoint": endpoint,
            "keys": list(latest),
            "datas": list(latest.values()),
            "cursor": state.cursor,
            "etag": state.etag,
            "extra": dict(state.extra),
            "generation": state.generation,
            "any_generation": batch.walking_from is None,
            "walking_from": batch.walking_from or 0,
            "now": now,
        }
        if announce is not None:
            return self._save_announced(params, batch, set(latest), announce)
        return counts_of(*self._write_batch(params, batch, set(latest)))

    def _write_batch(
        self, params: dict[str, Any], batch: BatchWrite, stored: set[str]
    ) -> tuple[list[Row], int]:
        if batch.walking_from is None and not (batch.seen or batch.deleted or batch.sweep):
            return self._save_batch(params), 0
        return self._save_walk(params, batch, stored)

    def _save_announced(
        self, params: dict[str, Any], batch: BatchWrite, stored: set[str], announce: Announcement
    ) -> BatchCounts:
        """The batch, then its poll's data.changed event, in one transaction: the event's
        readUpTo is the feed place just after that transaction's (PostgreSQL overrides this
        with one statement)."""
        with self.transaction():
            counts = counts_of(*self._write_batch(params, batch, stored))
            total = announce.earlier.plus(counts)
            if total.any:
                where = (params["user_id"], params["platform"], params["endpoint"])
                event = data_changed(announce.connection_id, *where, total)
                self._emit(event, params["now"], read_up_to="after")
        return counts

    def _save_batch(self, params: dict[str, Any]) -> list[Row]:
        """Upsert the items and save the cursor atomically; one row per item stored, changed or
        stamped (an item stored already with the same data and generation returns none)."""
        with self.transaction():
            self.mark_changes()
            rows = self._run("upsert_items", params) if params["keys"] else []
            self._rowcount("save_sync_state", params)
        return rows

    def _save_walk(
        self, params: dict[str, Any], batch: BatchWrite, stored: set[str]
    ) -> tuple[list[Row], int]:
        """A batch of a walk, or one with deletions: the cursor first (refused if another run
        moved the walk on), the items, what was seen, what is gone; all or nothing."""
        where = {k: params[k] for k in ("user_id", "platform", "endpoint")}
        now, generation = params["now"], params["generation"]
        with self.transaction():
            if not self._rowcount("save_sync_state", params):
                raise lease_lost(params)
            self.mark_changes()
            rows = self._run("upsert_items", params) if params["keys"] else []
            seen = [key for key in dict.fromkeys(batch.seen) if key not in stored]
            if seen:
                self._rowcount("stamp_seen", {**where, "keys": seen, "generation": generation})
            deleted = 0
            if batch.deleted:
                gone = list(dict.fromkeys(batch.deleted))
                deleted += self._rowcount("tombstone_keys", {**where, "keys": gone, "now": now})
            if batch.sweep:
                sweep = {**where, "generation": generation, "reason": batch.sweep, "now": now}
                deleted += self._rowcount("sweep_walk", sweep)
        return rows, deleted

    def record_poll_error(
        self, user_id: str, platform: str, endpoint: str, code: str, now: datetime
    ) -> None:
        """Note a failed poll of an endpoint; its cursor stays where it was."""
        params = {
            "user_id": user_id,
            "platform": platform,
            "endpoint": endpoint,
            "code": code,
            "extra": {},
            "now": now,
        }
        self._rowcount("record_poll_error", params)

    def known_keys(
        self, user_id: str, platform: str, endpoint: str, keys: Sequence[str]
    ) -> set[str]:
        """Which of these item keys are stored and not tombstoned."""
        params = {
            "user_id": user_id,
            "platform": platform,
            "endpoint": endpoint,
            "keys": list(keys),
        }
        return {r["item_key"] for r in self._run("known_keys", params)}

    def stored_data(
        self, user_id: str, platform: str, endpoint: str, keys: Sequence[str]
    ) -> dict[str, dict[str, object]]:
        """The stored data of these item keys (those not tombstoned)."""
        params = {
            "user_id": user_id,
            "platform": platform,
            "endpoint": endpoint,
            "keys": list(keys),
        }
        return {r["item_key"]: r["data"] for r in self._run("stored_data", params)}

    def count_tombstones(self, before: datetime) -> int:
        """How many items were tombstoned before this time."""
        return int(self._run("count_tombstones", {"before": before})[0]["n"])

    def prune_tombstones(self, before: datetime, limit: int) -> int:
        """Remove up to `limit` items tombstoned before this time, oldest first; how many. A
        reader of the change feed still before one of them has expired (store/changes.py)."""
        with self.transaction():
            rows = self._run("prune_tombstones", {"before": before, "limit": limit})
            if rows:
                newest = max((int(r["txn"]), int(r["id"])) for r in rows)
                self._rowcount("note_pruned", {"txn": newest[0], "id": newest[1]})
        return len(rows)

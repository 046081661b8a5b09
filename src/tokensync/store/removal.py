"""What disconnect and erase ask of the store: a user's rows, counted and removed, and the events
that say so (connection.disconnected, user.erased), written in the same transactions. A disconnect
leaves the items tombstones ('disconnected') in the change feed; an erase deletes every row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from tokensync.store import outbox
from tokensync.store.engine import filter_params
from tokensync.store.models import Connection, Filters, TableCounts
from tokensync.store.outbox import OutboxMixin

# The tables that name a user, as a receipt lists them.
USER_TABLES = ("connections", "sync_state", "user_platform_data")
# What removing a connection does to its polled items: left live (`disconnect --keep-data`),
# tombstoned as 'disconnected' (a disconnect: the change feed says so), deleted (an erase).
ItemRemoval = Literal["keep", "tombstone", "delete"]


class RemovalMixin(OutboxMixin):
    """Counting and deleting a user's rows, shared by both engines."""

    def count_user_rows(
        self, user_id: str, platforms: Sequence[str] = (), *, live_items: bool = False
    ) -> TableCounts:
        """How many rows of each table name this user (of these platforms; none: all); of the
        items, with `live_items`, only those not tombstoned (what a disconnect removes)."""
        params = {**_params(user_id, platforms), "all_items": not live_items}
        (row,) = self._run("count_user_rows", params)
        return {table: int(row[table]) for table in USER_TABLES}

    def count_user_events(self, user_id: str) -> int:
        """How many events name this user (what an erase would remove of them)."""
        return int(self._run("count_user_events", {"user_id": user_id})[0]["n"])

    def delete_connection(
        self, conn: Connection, owner: str, *, items: ItemRemoval, revoked: bool, now: datetime
    ) -> TableCounts | None:
        """Delete a connection leased to `owner`, with its cursors, remove its items as `items`
        says, and say connection.disconnected, in one transaction; None, and nothing deleted,
        when the lease was lost or the tokens changed since `conn` was read (a re-import is a new
        grant, and stays)."""
        params = {
            "id": conn.id,
            "owner": owner,
            "access_token_enc": conn.access_token_enc,
            "refresh_token_enc": conn.refresh_token_enc,
            **_params(conn.user_id, (conn.platform,)),
        }
        with self.transaction():
            if self._rowcount("delete_connection", params) != 1:
                return None
            self._rowcount("delete_replaced_grants", params)
            event = outbox.disconnected(conn.id, conn.user_id, conn.platform, revoked)
            self._emit(event, now)
            return {
                "connections": 1,
                "sync_state": self._rowcount("delete_sync_state", params),
                "user_platform_data": self._remove_items(items, params, now),
            }

    def disconnect_user_rows(
        self, user_id: str, platforms: Sequence[str], now: datetime
    ) -> TableCounts:
        """Delete the cursors and tombstone the items ('disconnected') of a user (of these
        platforms) that no connection holds any more: kept by `disconnect --keep-data`."""
        params = _params(user_id, platforms)
        with self.transaction():
            return {
                "connections": 0,
                "sync_state": self._rowcount("delete_sync_state", params),
                "user_platform_data": self._remove_items("tombstone", params, now),
            }

    def _remove_items(self, items: ItemRemoval, params: dict[str, object], now: datetime) -> int:
        """The items of a user's platforms removed, in the caller's transaction; how many."""
        if items == "keep":
            return 0
        if items == "delete":
            return self._rowcount("delete_items", params)
        self.mark_changes()
        gone = self._rowcount("tombstone_disconnected", {**params, "now": now})
        self._rowcount("unstamp_items", params)
        return gone

    def finish_erasure(
        self, user_id: str, *, erased_before: int, now: datetime
    ) -> tuple[TableCounts, str | None]:
        """The last of an erase, once no connection of the user is left: their cursors, items and
        events go, and user.erased says so, in one transaction; the rows removed per table, and
        the event's id. The event is written when this erase removed anything (`erased_before`:
        what it removed already, connections and spool files): an unknown or already erased
        user gets none."""
        params = _params(user_id, ())
        event_id = None
        with self.transaction():
            counts: TableCounts = {
                "sync_state": self._rowcount("delete_sync_state", params),
                "user_platform_data": self._rowcount("delete_items", params),
                "events": self._rowcount("delete_user_events", {"user_id": user_id}),
            }
            if erased_before or any(counts.values()):
                event_id = self._emit(outbox.user_erased(user_id), now)
        return counts, event_id


def _params(user_id: str, platforms: Sequence[str]) -> dict[str, object]:
    return {"user_id": user_id, **filter_params(Filters(platforms=tuple(platforms)))}

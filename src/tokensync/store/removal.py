"""What disconnect and erase ask of the store: a user's rows, counted and deleted, and the events
that say so (connection.disconnected, user.erased), written in the same transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tokensync.store import outbox
from tokensync.store.engine import filter_params
from tokensync.store.models import Connection, Filters, TableCounts
from tokensync.store.outbox import OutboxMixin

# The tables that name a user, as a receipt lists them.
USER_TABLES = ("connections", "sync_state", "user_platform_data")


class RemovalMixin(OutboxMixin):
    """Counting and deleting a user's rows, shared by both engines."""

    def count_user_rows(self, user_id: str, platforms: Sequence[str] = ()) -> TableCounts:
        """How many rows of each table name this user (of these platforms; none: all)."""
        (row,) = self._run("count_user_rows", _params(user_id, platforms))
        return {table: int(row[table]) for table in USER_TABLES}

    def count_user_events(self, user_id: str) -> int:
        """How many events name this user (what an erase would remove of them)."""
        return int(self._run("count_user_events", {"user_id": user_id})[0]["n"])

    def delete_connection(
        self, conn: Connection, owner: str, *, keep_data: bool, revoked: bool, now: datetime
    ) -> TableCounts | None:
        """Delete a connection leased to `owner`, with its cursors and (unless `keep_data`) its
        items, and say connection.disconnected, in one transaction; None, and nothing deleted,
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
                "user_platform_data": 0 if keep_data else self._rowcount("delete_items", params),
            }

    def delete_user_rows(self, user_id: str, platforms: Sequence[str] = ()) -> TableCounts:
        """Delete the items and cursors of a user (of these platforms; none: all) that no
        connection holds any more: kept by `disconnect --keep-data`, or left by an erase's
        connections."""
        params = _params(user_id, platforms)
        with self.transaction():
            return {
                "connections": 0,
                "sync_state": self._rowcount("delete_sync_state", params),
                "user_platform_data": self._rowcount("delete_items", params),
            }

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

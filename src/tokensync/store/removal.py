"""What disconnect and erase ask of the store: a user's rows, counted and deleted."""

from __future__ import annotations

from collections.abc import Sequence

from tokensync.store.engine import Engine, filter_params
from tokensync.store.models import Connection, Filters, TableCounts

# The tables that name a user, as a receipt lists them.
USER_TABLES = ("connections", "sync_state", "user_platform_data")


class RemovalMixin(Engine):
    """Counting and deleting a user's rows, shared by both engines."""

    def count_user_rows(self, user_id: str, platforms: Sequence[str] = ()) -> TableCounts:
        """How many rows of each table name this user (of these platforms; none: all)."""
        (row,) = self._run("count_user_rows", _params(user_id, platforms))
        return {table: int(row[table]) for table in USER_TABLES}

    def delete_connection(
        self, conn: Connection, owner: str, *, keep_data: bool
    ) -> TableCounts | None:
        """Delete a connection leased to `owner`, with its cursors and (unless `keep_data`) its
        items, in one transaction; None, and nothing deleted, when the lease was lost or the
        tokens changed since `conn` was read (a re-import is a new grant, and stays)."""
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


def _params(user_id: str, platforms: Sequence[str]) -> dict[str, object]:
    return {"user_id": user_id, **filter_params(Filters(platforms=tuple(platforms)))}

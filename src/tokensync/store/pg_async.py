"""Single-row statements sent from the event loop, on an asyncio psycopg connection of their own.

The refreshes' lease checks go this way on PostgreSQL (runtime/async_store.py). A check is made
while its row holds a request slot, so its latency is paid by a slot standing idle. On a database
thread it was a hop each way between threads, each waiting for the interpreter lock while the
event loop ran: 16 to 18 ms a check under a full run, for a statement PostgreSQL answers in a
fraction of one. On the loop's own socket it costs the round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from tokensync.errors import StorageError
from tokensync.store.engine import RowWrite
from tokensync.store.pg_types import adapt


class AsyncRowWriter:
    """Engine.write_rows for the event loop: each statement as if called alone, those given
    together in one round trip (psycopg's pipeline mode), on a connection opened by `connect`
    and made again after it broke. One batch at a time: the caller gathers the rest meanwhile.
    """

    def __init__(
        self,
        conninfo: str,
        sql: Mapping[str, str],
        *,
        setup: Sequence[str],
        scrub: Callable[[BaseException], str],
    ) -> None:
        self._conninfo, self._sql, self._setup = conninfo, sql, setup
        self._scrub = scrub
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    async def connect(self) -> None:
        """Open the connection now (a later write opens it again when it broke)."""
        await self._live()

    async def write_rows(self, writes: Sequence[RowWrite]) -> list[bool]:
        """Whether each statement touched its row. Between two Syncs PostgreSQL runs a
        pipeline's statements in one implicit transaction: one that fails fails them all."""
        try:
            conn = await self._live()
            if len(writes) == 1:
                only = writes[0]
                cursor = await conn.execute(self._sql[only.statement], adapt(only.params))
                return [cursor.rowcount == 1]
            async with conn.pipeline():
                cursors = [
                    await conn.execute(self._sql[w.statement], adapt(w.params)) for w in writes
                ]
            return [cursor.rowcount == 1 for cursor in cursors]
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL: {self._scrub(exc)}") from None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    def abandon(self) -> None:
        """Drop the connection at once, without a word to the server (one that stopped
        answering): a statement waiting on it can then be cancelled without psycopg first asking
        the server to cancel it, which would wait up to 10 s more on a server that is not there."""
        if self._conn is not None:
            self._conn.pgconn.finish()

    async def _live(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        conn = self._conn
        if conn is not None and conn.info.transaction_status != TransactionStatus.IDLE:
            # A batch cancelled mid-way (its bound ran out) left it mid-statement: it is made
            # again, as after a connection lost (the server undoes what was not committed).
            await conn.close()
        if conn is None or conn.closed or conn.broken:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                for statement in self._setup:
                    await conn.execute(statement)
            except psycopg.Error as exc:
                raise StorageError(f"cannot connect to PostgreSQL: {self._scrub(exc)}") from None
            self._conn = conn
        return conn

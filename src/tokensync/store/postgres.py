"""The PostgreSQL engine (psycopg 3): claims with FOR UPDATE SKIP LOCKED, for many workers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tokensync.errors import StorageError
from tokensync.jsoncodec import dumps
from tokensync.store.base import Store
from tokensync.store.engine import Row
from tokensync.store.models import BatchWrite
from tokensync.store.polling import lease_lost

_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")
# Any constant works: it only has to be the same for every tokensync that migrates.
_MIGRATION_LOCK = 0x746F6B656E73
_EVENT_ORDER_LOCK = 0x6576656E7473


class PostgresStore(Store):
    """The production engine."""

    engine = "postgres"
    dialect = {
        "platform_in": "platform = ANY(CAST(:platforms AS text[]))",
        "user_in": "user_id = ANY(CAST(:users AS text[]))",
        "id_in": "id = ANY(CAST(:ids AS bigint[]))",
        "key_in": "item_key = ANY(CAST(:keys AS text[]))",
        # The data travel as one JSON array: psycopg's jsonb[] dumper escapes element by element,
        # which cost more than the statement itself.
        "item_rows": "SELECT k.item_key, d.data "
        "FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(item_key, n) "
        "JOIN jsonb_array_elements(CAST(:datas AS jsonb)) WITH ORDINALITY AS d(data, n) USING (n)",
        # What COALESCE(next_poll_at, ...) puts first: a connection never polled.
        "never": "'-infinity'",
        "skip_locked": "FOR UPDATE SKIP LOCKED",
        "commands": "SELECT unnest(CAST(:commands AS text[])) AS command",
        "greatest": "GREATEST",
        "type_in": "type = ANY(CAST(:types AS text[]))",
        "for_update": "FOR UPDATE",
        # One publisher of events at a time (store/deliveries.py), until its transaction ends.
        "event_order_lock": f"SELECT pg_advisory_xact_lock({_EVENT_ORDER_LOCK})",
    }

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        super().__init__()
        self._url = url
        self._secret = _password(url)
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = 0
        self._conn = self._connect()

    def _compile(self, sql: str) -> str:
        return _PARAM.sub(r"%(\1)s", sql)

    def _connect(self) -> psycopg.Connection[Row]:
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=self._connect_timeout,
                application_name="tokensync",
            )
            conn.execute("SET TIME ZONE 'UTC'")
            self._set_timeout(conn)
            return conn
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {self._scrub(exc)}") from None
        except ValueError as exc:  # a URL psycopg cannot parse
            raise StorageError(f"bad PostgreSQL URL: {self._scrub(exc)}") from None

    def _live(self) -> psycopg.Connection[Row]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def set_statement_timeout(self, seconds: float) -> None:
        """The server cancels a statement (a lock wait included) that runs longer than this."""
        self._statement_timeout_ms = max(1, int(seconds * 1000))
        self._set_timeout(self._live())

    def _set_timeout(self, conn: psycopg.Connection[Row]) -> None:
        if self._statement_timeout_ms:
            # A SET takes no parameters; the value is an int this program made.
            conn.execute(f"SET statement_timeout = {int(self._statement_timeout_ms)}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        try:
            with self._live().transaction():
                yield
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL: {self._scrub(exc)}") from None

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> psycopg.Cursor[Row]:
        try:
            return self._live().execute(sql, _adapt(params) if params else None)
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL: {self._scrub(exc)}") from None

    def _run(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        cursor = self._execute(self._sql[name], params)
        return cursor.fetchall() if cursor.description else []

    def _save_batch(self, params: dict[str, Any]) -> list[Row]:
        # One statement, atomic on its own: no BEGIN and COMMIT round trips for every page.
        return self._run("save_batch", params)

    def _save_walk(
        self, params: dict[str, Any], batch: BatchWrite, stored: set[str]
    ) -> tuple[list[Row], int]:
        if batch.seen or batch.deleted:
            return super()._save_walk(params, batch, stored)
        # A snapshot's page, one statement too: five round trips (BEGIN, the cursor, the items,
        # the sweep, COMMIT) cost a poll run a tenth of its time.
        sweep = {"sweeps": batch.sweep is not None, "reason": batch.sweep}
        rows = self._run("save_walk_batch", {**params, **sweep})
        if not rows[0]["saved"]:
            raise lease_lost(params)
        return [r for r in rows if r["touched"] is not None], int(rows[0]["swept"])

    def _rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        return self._execute(self._sql[name], params).rowcount

    def _applied_versions(self) -> list[int]:
        row = self._execute("SELECT to_regclass('tokensync_schema') IS NOT NULL AS present")
        if not row.fetchone()["present"]:  # type: ignore[index]
            return []
        return [r["version"] for r in self._run("schema_versions", {})]

    def _apply(self, version: int, script: str, now: datetime) -> bool:
        with self.transaction():
            self._execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _MIGRATION_LOCK})
            self._execute(
                "CREATE TABLE IF NOT EXISTS tokensync_schema "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )
            if version in self._applied_versions():
                return False
            self._execute(script)
            self._run("record_version", {"version": version, "now": now})
        return True

    def _scrub(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return text


def _adapt(params: Mapping[str, Any]) -> dict[str, Any]:
    # Dicts travel as JSON, and so does a batch's list of item data; other lists as arrays.
    return {
        k: Jsonb(v, dumps=dumps) if isinstance(v, dict) or k in _JSON_LISTS else v
        for k, v in params.items()
    }


_JSON_LISTS = frozenset({"datas"})


def _password(url: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(url).get("password") or None  # type: ignore[return-value]
    except psycopg.Error:
        return None

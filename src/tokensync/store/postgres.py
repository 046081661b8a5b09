"""The PostgreSQL engine (psycopg 3): claims with FOR UPDATE SKIP LOCKED, for many workers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tokensync import interrupts
from tokensync.errors import NoDatabaseError, StorageError
from tokensync.redaction import redact
from tokensync.store.base import Store
from tokensync.store.engine import Row, RowWrite
from tokensync.store.models import Announcement, BatchCounts, BatchWrite, NewTokens
from tokensync.store.pg_types import TimeLoader, adapt
from tokensync.store.pg_url import connection_params
from tokensync.store.polling import announced_params, counts_of, lease_lost

# SQLSTATE invalid_catalog_name: the server has no database of that name.
_NO_SUCH_DATABASE = "3D000"
_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")
# Any constant works: it only has to be the same for every tokensync that migrates.
_MIGRATION_LOCK = 0x746F6B656E73
_EVENT_ORDER_LOCK = 0x6576656E7473


class PostgresStore(Store):
    """The production engine."""

    engine = "postgres"
    dialect = {
        "platform_in": "platform = ANY(CAST(:platforms AS text[]))",
        "connection_in": "connection_id = ANY(CAST(:connections AS bigint[]))",
        "refresh_digest_in": "refresh_token_digest = ANY(CAST(:digests AS text[]))",
        "prefix_digest_in": "refresh_prefix_digest = ANY(CAST(:digests AS text[]))",
        "digest_key_not_in": "NOT (refresh_digest_key = ANY(CAST(:keys AS text[])))",
        "user_in": "user_id = ANY(CAST(:users AS text[]))",
        "id_in": "id = ANY(CAST(:ids AS bigint[]))",
        "succeeded_in": "id = ANY(CAST(:succeeded AS bigint[]))",
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
        "status_in": "status = ANY(CAST(:statuses AS text[]))",
        # Emptying a table: DELETE would leave every row dead in it, chunk after chunk.
        "truncate": "TRUNCATE",
        "greatest": "GREATEST",
        "type_in": "type = ANY(CAST(:types AS text[]))",
        "for_update": "FOR UPDATE",
        # One publisher of events at a time (store/webhook_queue.py), until its transaction ends.
        "event_order_lock": f"SELECT pg_advisory_xact_lock({_EVENT_ORDER_LOCK})",
        # An import's recoveries: the connections it replaces, held until it commits.
        "for_update_of_c": "FOR UPDATE OF c",
        # An event id made in SQL, like outbox.new_event_id's: evt_ and 32 hex digits.
        "new_event_id": "'evt_' || replace(CAST(gen_random_uuid() AS text), '-', '')",
        "json_object": "jsonb_build_object",
        # Leases by the server's clock, the one every worker shares, never a host's. A lease
        # whose holder's session is gone (no session holds the advisory lock on its owner's
        # name: it exited, crashed, or the server restarted) is free at once while its row was
        # not sent. pg_locks, not a try-lock: a session must see its own owners as alive too.
        "lease_now": "statement_timestamp()",
        "lease_until": "statement_timestamp() + make_interval(secs => :lease_seconds)",
        "lease_free": "(lease_expires_at IS NULL OR lease_expires_at <= statement_timestamp()"
        " OR (lease_sent_at IS NULL AND lease_owner <> :owner AND NOT EXISTS ("
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid = CAST((hashtextextended(lease_owner, 0) >> 32) & 4294967295 AS oid)"
        " AND objid = CAST(hashtextextended(lease_owner, 0) & 4294967295 AS oid))))",
        # The change feed (store/changes.py): a change's place is its transaction's id; a read
        # goes up to the oldest transaction still running, never past it.
        "change_mark": "pg_current_xact_id()",
        "with_read_up_to": "CAST(:data AS jsonb) || jsonb_build_object('readUpTo',"
        " CAST(pg_current_xact_id() AS text) || '-0')",
        # The place just after this transaction's: every row it writes lies below it.
        "with_read_up_to_after": "CAST(:data AS jsonb) || jsonb_build_object('readUpTo',"
        " CAST(CAST(CAST(pg_current_xact_id() AS text) AS numeric) + 1 AS text) || '-0')",
        "txn_text": "CAST(change_txn AS text)",
        "txn_param": "CAST(CAST(:txn AS text) AS xid8)",
        "pruned_text": "CAST(pruned_txn AS text)",
        "change_horizon": "CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text)",
        "horizon_param": "CAST(CAST(:horizon AS text) AS xid8)",
    }

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        super().__init__()
        self._url = url
        self._params = connection_params(url)
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = 0
        self._conn = self._connect(first=True)

    def _compile(self, sql: str) -> str:
        return _PARAM.sub(r"%(\1)s", sql)

    def _connect(self, *, first: bool = False) -> psycopg.Connection[Row]:
        """A connection; a database missing at the `first` one is NoDatabaseError (a typo in the
        URL), while one gone at a reconnection mid-run stays a StorageError like any outage."""
        try:
            params = {
                "connect_timeout": str(self._connect_timeout),
                "application_name": "tokensync",
                **self._params,
            }
            conn = psycopg.connect(
                psycopg.conninfo.make_conninfo("", **params),
                autocommit=True,
                row_factory=dict_row,
            )
            conn.adapters.register_loader("timestamptz", TimeLoader)
            conn.execute("SET TIME ZONE 'UTC'")
            # Every statement here is a short indexed one, but on a large table the planner's
            # cost of the claim's index scan (its rows past the LIMIT) passes the JIT thresholds,
            # and compiling it took a second a claim: a run with nothing due among 1,000,000
            # connections took 970 ms instead of 13 (docs/performance.md).
            conn.execute("SET jit = off")
            self._set_timeout(conn)
            return conn
        except psycopg.Error as exc:
            name, host = self._params.get("dbname", ""), self._params.get("host", "")
            # A failed connection carries no SQLSTATE in psycopg: the server's words say it.
            missing = f'database "{name}" does not exist'
            if first and (exc.sqlstate == _NO_SUCH_DATABASE or (name and missing in str(exc))):
                raise NoDatabaseError(
                    f"the PostgreSQL database {name or '(default)'}"
                    + (f" on {host}" if host else "")
                    + " does not exist: check the database URL (tokensync creates its schema in "
                    "a database, never the database)"
                ) from None
            raise StorageError(f"cannot connect to PostgreSQL: {self._scrub(exc)}") from None
        except ValueError as exc:  # a parameter psycopg cannot use
            raise StorageError(f"bad PostgreSQL URL: {self._scrub(exc)}") from None

    def _live(self) -> psycopg.Connection[Row]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def scrub_deleted(self) -> None:
        """Nothing a client can do: dead rows stay in their pages until the table is vacuumed
        (autovacuum, or VACUUM, which cannot run in the transaction a job may hold)."""

    def close(self) -> None:
        """Close the connection (which ends the advisory locks of the owners it held)."""
        self._conn.close()

    def hold_lease_owner(self, owner: str) -> None:
        """Show every other worker that `owner` lives: a session advisory lock on its name,
        held until this connection ends (a restarted server ends it too)."""
        self._run("hold_lease_owner", {"owner": owner})

    def drop_lease_owner(self, owner: str) -> None:
        """`owner` is done: its unsent leases may be taken over at once."""
        self._run("drop_lease_owner", {"owner": owner})

    def database_now(self) -> datetime | None:
        """The server's clock, which judges every lease."""
        rows = self._run("database_now", {})
        return rows[0]["now"] if rows and isinstance(rows[0]["now"], datetime) else None

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
        """A transaction that commits when the block ends and rolls back if it raises.

        The COMMIT runs where no signal interrupts it (tokensync.interrupts): its answer is
        always read, so what the caller reports is what the database did.
        """
        conn = self._live()
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield  # inside the caller's transaction already
            return
        self._execute("BEGIN")
        try:
            yield
        except BaseException:
            self._abandon()
            raise
        with interrupts.deferred():
            self._execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that all see one snapshot (a read-only repeatable-read transaction)."""
        if self._live().info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield  # inside the caller's transaction already
            return
        self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        except BaseException:
            self._abandon()
            raise
        self._execute("COMMIT")

    def changing(self) -> contextlib.AbstractContextManager[None]:
        """One statement: its own transaction id is its place in the change feed."""
        return contextlib.nullcontext()

    def _abandon(self) -> None:
        """Roll back; a connection broken mid-protocol (a signal in the middle of a COPY) is
        closed instead, which the server takes as a rollback."""
        try:
            self._conn.execute("ROLLBACK")
        except psycopg.Error:
            self._conn.close()

    def _execute(self, sql: str, params: Mapping[str, Any] | None = None) -> psycopg.Cursor[Row]:
        try:
            return self._live().execute(sql, adapt(params) if params else None)
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL: {self._scrub(exc)}") from None

    def _run(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        cursor = self._execute(self._sql[name], params)
        return cursor.fetchall() if cursor.description else []

    def _prepare_import(self) -> None:
        # Every statement of a chunk joins a small staging table (5,000 rows) to a large indexed
        # one (connections, import_seen) by its unique key: a nested loop over the index is
        # always right. Temporary tables never get statistics (autovacuum skips them), and the
        # planner, guessing, chose hash joins that read all of import_seen and connections for
        # every chunk: a million lines took 217 s instead of 56 s. For this transaction only.
        self._rowcount("import_nested_loops", {})

    def _stage_import(self, rows: Sequence[NewTokens]) -> None:
        try:
            with (
                self._live().cursor() as cursor,
                cursor.copy(self._sql["copy_import_staging"]) as copy,
            ):
                for r in rows:
                    copy.write_row(
                        (
                            r.line,
                            r.user_id,
                            r.platform,
                            r.access_token_enc,
                            r.refresh_token_enc,
                            r.keep_refresh,
                            r.token_type,
                            r.scope,
                            r.expires_at,
                            r.refresh_token_expires_at,
                            r.provider_user_id,
                            *(
                                (r.refresh_digests.hashed, r.refresh_digests.prefix)
                                if r.refresh_digests
                                else (None, None)
                            ),
                            r.refresh_digests.key if r.refresh_digests else None,
                        )
                    )
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL: {self._scrub(exc)}") from None

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
        return _walk_result(self._run("save_walk_batch", {**params, **_sweep(batch)}), params)

    def _save_announced(
        self, params: dict[str, Any], batch: BatchWrite, stored: set[str], announce: Announcement
    ) -> BatchCounts:
        if batch.seen or batch.deleted:
            return super()._save_announced(params, batch, stored, announce)
        # The batch and its poll's event in one statement, as one transaction: no round trip
        # and commit of the event's own for every endpoint that changed.
        with_event = announced_params(params, announce)
        if batch.walking_from is None and not batch.sweep:
            return counts_of(self._run("save_batch_announced", with_event), 0)
        rows = self._run("save_walk_batch_announced", {**with_event, **_sweep(batch)})
        return counts_of(*_walk_result(rows, params))

    def _rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        return self._execute(self._sql[name], params).rowcount

    def write_rows(self, writes: Sequence[RowWrite]) -> list[bool]:
        """The statements sent together in one round trip (psycopg's pipeline mode), each with
        its own parameters and conditions, exactly as if called alone.

        Between two Syncs PostgreSQL runs a pipeline's statements in one implicit transaction:
        they commit together, and one that fails fails them all (each caller sees the error, as
        for a connection lost). Each still locks and checks only its own row. Lease checks alone
        go as one statement (confirm_leases), with the same conditions row by row.
        """
        conn = self._live()
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if len(writes) == 1 or not idle:
            return super().write_rows(writes)
        ids = [w.params["id"] for w in writes]
        if all(w.statement == "confirm_lease" for w in writes) and len(set(ids)) == len(ids):
            # A batch of lease checks: one statement, planned and answered once for all, where a
            # pipeline costs a statement each (measured in docs/performance.md).
            confirmed = {row["id"] for row in self._run("confirm_leases", _leases(writes))}
            return [i in confirmed for i in ids]
        try:
            with conn.pipeline():
                cursors = [conn.execute(self._sql[w.statement], adapt(w.params)) for w in writes]
            return [cursor.rowcount == 1 for cursor in cursors]
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL: {self._scrub(exc)}") from None

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
        return redact(" ".join(str(exc).split()) or type(exc).__name__, self._url)


def _sweep(batch: BatchWrite) -> dict[str, Any]:
    """The parameters of a walk's sweep in save_walk_batch (none when the batch ends no walk)."""
    return {"sweeps": batch.sweep is not None, "reason": batch.sweep}


def _walk_result(rows: list[Row], params: Mapping[str, Any]) -> tuple[list[Row], int]:
    """save_walk_batch's rows: the items stored and how many it swept; LeaseLostError if the
    cursor was refused (and so nothing written)."""
    if not rows[0]["saved"]:
        raise lease_lost(dict(params))
    return [r for r in rows if r["touched"] is not None], int(rows[0]["swept"])


def _leases(checks: Sequence[RowWrite]) -> dict[str, list[Any]]:
    """The parameters of confirm_leases: those of each lease check (lease_check), column-wise,
    sorted by id, so that its rows are locked in one steady order whatever order they came in."""
    params = sorted((w.params for w in checks), key=lambda p: int(p["id"]))
    return {
        "ids": [p["id"] for p in params],
        "owners": [p["owner"] for p in params],
        "generations": [p["grant_generation"] for p in params],
        "tokens": [p["refresh_token_enc"] for p in params],
        "lease_lengths": [p["lease_seconds"] for p in params],
    }

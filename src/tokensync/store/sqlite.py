"""The SQLite engine: one file, WAL mode, writers serialised by BEGIN IMMEDIATE."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tokensync import interrupts
from tokensync.errors import ConfigError, NoDatabaseError, StorageError
from tokensync.jsoncodec import dumps
from tokensync.store.base import Store
from tokensync.store.engine import UNREADABLE, Row, Unreadable, checked_time
from tokensync.store.lease_owners import OwnerLocks, owner_lock_dir
from tokensync.store.models import NewTokens

_JSON_COLUMNS = frozenset({"data", "extra", "summary"})
_UNWRITABLE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")
_BOOL_COLUMNS = frozenset({"success", "inserted", "touched"})
# Lists travel as JSON text and are read back with json_each().
_LIST_PARAMS = frozenset({"platforms", "users", "ids", "keys", "commands", "types", "statuses"})


def to_text(value: datetime) -> str:
    """A UTC timestamp as fixed-width text that sorts like the time it names:
    2026-11-28T15:00:00.000000Z (isoformat pads the year to four digits; strftime does not)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def from_text(value: object) -> datetime | Unreadable:
    """The inverse of to_text; UNREADABLE for anything else another program may have written
    there (not a time, a time out of range), so that the row fails and not the query."""
    if not isinstance(value, str):
        return UNREADABLE
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return UNREADABLE
    return checked_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:///relative or sqlite:////absolute URL."""
    return Path(url.removeprefix("sqlite:///")).expanduser()


class SQLiteStore(Store):
    """The embedded default: a single file, safe for several processes at once."""

    engine = "sqlite"
    dialect = {
        "platform_in": "platform IN (SELECT value FROM json_each(:platforms))",
        "connection_in": "connection_id IN (SELECT value FROM json_each(:connections))",
        "refresh_digest_in": "refresh_token_digest IN (SELECT value FROM json_each(:digests))",
        "prefix_digest_in": "refresh_prefix_digest IN (SELECT value FROM json_each(:digests))",
        "digest_key_not_in": "refresh_digest_key NOT IN (SELECT value FROM json_each(:keys))",
        "user_in": "user_id IN (SELECT value FROM json_each(:users))",
        "id_in": "id IN (SELECT value FROM json_each(:ids))",
        "succeeded_in": "id IN (SELECT value FROM json_each(:succeeded))",
        "key_in": "item_key IN (SELECT value FROM json_each(:keys))",
        "item_rows": "SELECT k.value AS item_key, json(d.value) AS data "
        "FROM json_each(:keys) AS k JOIN json_each(:datas) AS d ON d.key = k.key",
        # What COALESCE(next_poll_at, ...) puts first: a connection never polled.
        "never": "''",
        "skip_locked": "",
        "commands": "SELECT value AS command FROM json_each(:commands)",
        "status_in": "status IN (SELECT value FROM json_each(:statuses))",
        # Emptying a table: DELETE without WHERE is SQLite's truncate.
        "truncate": "DELETE FROM",
        "greatest": "max",  # max() of two arguments is SQLite's GREATEST
        "type_in": "type IN (SELECT value FROM json_each(:types))",
        # BEGIN IMMEDIATE holds the write lock already: a row read is held, publishers take turns.
        "for_update": "",
        "event_order_lock": "SELECT 1",
        # An import's recoveries: SQLite's BEGIN IMMEDIATE holds every row already.
        "for_update_of_c": "",
        "new_event_id": "'evt_' || lower(hex(randomblob(16)))",
        "json_object": "json_object",
        # Leases on one host: by this host's clock, except that a live holder (one that still
        # holds its lock file, store/lease_owners.py) never loses a row it sent, however the
        # clock jumps; a row it has not sent yet is its own only until the lease lapses (the
        # check before sending finds it taken and sends nothing). A gone holder's unsent rows
        # are free at once.
        "lease_now": ":now",
        "lease_until": ":lease_until",
        "lease_free": "(lease_expires_at IS NULL"
        " OR (lease_sent_at IS NULL AND lease_expires_at <= :now)"
        " OR (NOT tokensync_owner_alive(lease_owner)"
        " AND (lease_sent_at IS NULL OR lease_expires_at <= :now)))",
        # The change feed (store/changes.py): one writer at a time, so each writing transaction's
        # number (bumped first, bump_change_counter) follows commit order.
        "change_mark": "(SELECT counter FROM change_feed)",
        "with_read_up_to": "json_set(:data, '$.readUpTo',"
        " (SELECT counter FROM change_feed) || '-0')",
        # The place just after this transaction's (numbered already by mark_changes).
        "with_read_up_to_after": "json_set(:data, '$.readUpTo',"
        " ((SELECT counter FROM change_feed) + 1) || '-0')",
        "txn_text": "change_txn",
        "txn_param": ":txn",
        "pruned_text": "pruned_txn",
        "change_horizon": "counter + 1",
        "horizon_param": ":horizon",
    }

    def __init__(self, path: Path, *, busy_timeout: float = 30.0, create: bool = True) -> None:
        """Open the file; with `create` False it must exist already (NoDatabaseError if not)."""
        super().__init__()
        self.path = path
        if create:
            _create_private(path)
        elif not path.is_file():
            raise NoDatabaseError(
                f"no SQLite database at {path}: check the database URL (only the jobs, "
                "`tokens import` and `db migrate` create one)"
            )
        try:
            # mode=rw: the file is not created behind our back if it vanished meanwhile.
            uri = f"file:{quote(str(path.absolute()))}?mode=rw"
            self._db = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=busy_timeout, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._owners = OwnerLocks(owner_lock_dir(path))
            self._db.create_function(
                "tokensync_owner_alive", 1, self._owners.alive, deterministic=False
            )
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # A deleted row's bytes are zeroed, not left in a free page: erase means erased.
            self._db.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            # A file this user may not open for writing (a read-only database, or a directory
            # where the journal cannot go) is configuration, named by its path. Mid-run, the
            # same error stays a StorageError: a refreshed token is then spooled, not lost.
            if getattr(exc, "sqlite_errorname", "").startswith(_UNWRITABLE):
                raise ConfigError(
                    f"cannot open the SQLite database {path} for writing: {_reason(exc)} (set "
                    "TOKENSYNC_DATA_DIR or the database URL to a place this user can write)"
                ) from None
            raise StorageError(f"cannot open the SQLite database {path}: {_reason(exc)}") from None
        self._in_tx = False

    def close(self) -> None:
        """Close the file (and give up the lease owners this store holds)."""
        self._owners.drop_all()
        self._db.close()

    def hold_lease_owner(self, owner: str) -> None:
        """Show every other process that `owner` lives, for as long as this store is open."""
        try:
            self._owners.hold(owner)
        except OSError as exc:
            raise StorageError(
                f"cannot write the lease lock directory {self._owners.directory}: {_reason(exc)}"
            ) from None

    def drop_lease_owner(self, owner: str) -> None:
        """`owner` is done: its leases may be taken over."""
        self._owners.drop(owner)

    def scrub_deleted(self) -> None:
        """Copy the zeroed pages into the database file and empty the write-ahead log, which
        still holds the pages as they were before the delete. Best effort: while another
        process reads, the log is kept, and its old pages go at a later checkpoint."""
        self._exec("PRAGMA wal_checkpoint(TRUNCATE)")

    def set_statement_timeout(self, seconds: float) -> None:
        """How long a statement waits for another process's write lock before it fails."""
        try:
            self._db.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite: {_reason(exc)}") from None

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """BEGIN IMMEDIATE takes the write lock up front, so claims never race."""
        return self._within("BEGIN IMMEDIATE")

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Reads that all see one snapshot (a deferred transaction: WAL keeps it consistent)."""
        return self._within("BEGIN")

    @contextlib.contextmanager
    def _within(self, begin: str) -> Iterator[None]:
        """A transaction opened with `begin`, committed when the block ends, rolled back if it
        raises; inside one already, the block joins it."""
        if self._in_tx:
            yield
            return
        self._exec(begin)
        self._in_tx = True
        try:
            yield
            with interrupts.deferred():  # a signal never lands between COMMIT and its answer
                self._exec("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._in_tx = False

    def mark_changes(self) -> None:
        """Number this writing transaction in the change feed, before it writes an item."""
        self._rowcount("bump_change_counter", {})

    def _run(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        cursor = self._exec(self._sql[name], _adapt(params))
        return [_row(r) for r in cursor.fetchall()]

    def _rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        return self._exec(self._sql[name], _adapt(params)).rowcount

    def _stage_import(self, rows: Sequence[NewTokens]) -> None:
        staged = (
            {
                "line": r.line,
                "user_id": r.user_id,
                "platform": r.platform,
                "access_token_enc": r.access_token_enc,
                "refresh_token_enc": r.refresh_token_enc,
                "keep_refresh": r.keep_refresh,
                "token_type": r.token_type,
                "scope": r.scope,
                "expires_at": to_text(r.expires_at) if r.expires_at else None,
                "refresh_token_expires_at": (
                    to_text(r.refresh_token_expires_at) if r.refresh_token_expires_at else None
                ),
                "provider_user_id": r.provider_user_id,
                "refresh_token_digest": r.refresh_digests.hashed if r.refresh_digests else None,
                "refresh_prefix_digest": r.refresh_digests.prefix if r.refresh_digests else None,
                "refresh_digest_key": r.refresh_digests.key if r.refresh_digests else None,
            }
            for r in rows
        )
        try:
            self._db.executemany(self._sql["stage_import_row"], staged)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite ({self.path.name}): {_reason(exc)}") from None

    def _exec(self, sql: str, params: Mapping[str, Any] | None = None) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params or {})
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite ({self.path.name}): {_reason(exc)}") from None

    def _applied_versions(self) -> list[int]:
        exists = self._exec(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokensync_schema'"
        ).fetchone()
        if not exists:
            return []
        return [r[0] for r in self._exec(self._sql["schema_versions"]).fetchall()]

    def _apply(self, version: int, script: str, now: datetime) -> bool:
        with self.transaction():
            self._exec(
                "CREATE TABLE IF NOT EXISTS tokensync_schema "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            if version in self._applied_versions():
                return False
            for statement in _statements(script):
                self._exec(statement)
            self._exec(self._sql["record_version"], {"version": version, "now": to_text(now)})
        return True


def _statements(script: str) -> Iterator[str]:
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise StorageError("a migration ends with an incomplete SQL statement")


def _adapt(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            value = to_text(value)
        elif isinstance(value, list | tuple) and key in _LIST_PARAMS:
            value = json.dumps(list(value))
        elif isinstance(value, dict | list):
            value = dumps(value)
        out[key] = value
    return out


def _row(row: sqlite3.Row) -> Row:
    out: Row = {}
    for key in row.keys():  # noqa: SIM118 - iterating a Row yields values, not names
        value = row[key]
        if value is not None:
            if key.endswith("_at"):
                value = from_text(value)
            elif key in _JSON_COLUMNS:
                value = json.loads(value)
            elif key in _BOOL_COLUMNS:
                value = bool(value)
        out[key] = value
    return out


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite creates it openly.

    A place that cannot be written (a read-only data directory or HOME) is a configuration
    error that names the path, not a database that is down.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise ConfigError(
            f"cannot create the SQLite database {path}: {_reason(exc)} (set TOKENSYNC_DATA_DIR "
            "or the database URL to a place this user can write)"
        ) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

"""The SQLite engine: one file, WAL mode, writers serialised by BEGIN IMMEDIATE."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokensync.errors import StorageError
from tokensync.jsoncodec import dumps
from tokensync.store.base import Store
from tokensync.store.engine import Row

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_JSON_COLUMNS = frozenset({"data", "extra", "summary"})
_BOOL_COLUMNS = frozenset({"success", "inserted", "touched"})
# Lists travel as JSON text and are read back with json_each().
_LIST_PARAMS = frozenset({"platforms", "users", "ids", "keys", "commands", "types"})


def to_text(value: datetime) -> str:
    """A UTC timestamp as fixed-width text that sorts like the time it names."""
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def from_text(value: str) -> datetime:
    """The inverse of to_text."""
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:///relative or sqlite:////absolute URL."""
    return Path(url.removeprefix("sqlite:///")).expanduser()


class SQLiteStore(Store):
    """The embedded default: a single file, safe for several processes at once."""

    engine = "sqlite"
    dialect = {
        "platform_in": "platform IN (SELECT value FROM json_each(:platforms))",
        "user_in": "user_id IN (SELECT value FROM json_each(:users))",
        "id_in": "id IN (SELECT value FROM json_each(:ids))",
        "key_in": "item_key IN (SELECT value FROM json_each(:keys))",
        "item_rows": "SELECT k.value AS item_key, json(d.value) AS data "
        "FROM json_each(:keys) AS k JOIN json_each(:datas) AS d ON d.key = k.key",
        # What COALESCE(next_poll_at, ...) puts first: a connection never polled.
        "never": "''",
        "skip_locked": "",
        "commands": "SELECT value AS command FROM json_each(:commands)",
        "greatest": "max",  # max() of two arguments is SQLite's GREATEST
        "type_in": "type IN (SELECT value FROM json_each(:types))",
        # BEGIN IMMEDIATE holds the write lock already: a row read is held, publishers take turns.
        "for_update": "",
        "event_order_lock": "SELECT 1",
    }

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        super().__init__()
        self.path = path
        try:
            _create_private(path)
            self._db = sqlite3.connect(
                path, isolation_level=None, timeout=busy_timeout, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the SQLite database {path}: {_reason(exc)}") from None
        self._in_tx = False

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def set_statement_timeout(self, seconds: float) -> None:
        """How long a statement waits for another process's write lock before it fails."""
        try:
            self._db.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite: {_reason(exc)}") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE takes the write lock up front, so claims never race."""
        if self._in_tx:
            yield
            return
        self._exec("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
            self._exec("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._in_tx = False

    def _run(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        cursor = self._exec(self._sql[name], _adapt(params))
        return [_row(r) for r in cursor.fetchall()]

    def _rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        return self._exec(self._sql[name], _adapt(params)).rowcount

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
    """Create the database file readable by its owner only, before SQLite creates it openly."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

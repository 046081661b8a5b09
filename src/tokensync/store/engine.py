"""The primitives each engine supplies (sqlite.py, postgres.py).

Connections run in autocommit: a write of one statement is atomic and committed on its own, with
no BEGIN/COMMIT round trips; several statements that must commit together use transaction().
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tokensync.store.models import Connection, Filters
from tokensync.store.queries import QUERIES
from tokensync.times import EARLIEST, in_range

Row = dict[str, Any]


class Unreadable:
    """The value an engine reads for a stored time it cannot use: not a time, or one out of the
    sane range (tokensync.times). The row holding it fails on its own; the query does not."""

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = Unreadable()
# What a Connection's required times hold when unreadable (the row is flagged, never acted on).
_REQUIRED_TIMES = frozenset({"tokens_updated_at", "created_at", "updated_at"})


def checked_time(value: datetime) -> datetime | Unreadable:
    """An aware time in range, or UNREADABLE."""
    if value.tzinfo is None or not in_range(value):
        return UNREADABLE
    return value


def time_or_none(value: object) -> datetime | None:
    """A stored time for a model whose field may be None: an unreadable one reads as None."""
    return value if isinstance(value, datetime) else None


def filter_params(filters: Filters) -> dict[str, Any]:
    """The parameters every filtered query takes."""
    return {
        "all_platforms": not filters.platforms,
        "platforms": list(filters.platforms),
        "all_users": not filters.users,
        "users": list(filters.users),
    }


@dataclass(frozen=True)
class RowWrite:
    """One named single-row statement and its parameters, to be sent with others
    (Engine.write_rows): a refresh's lease check or save (store/refreshing.py)."""

    statement: str
    params: Mapping[str, Any]


class Engine(ABC):
    """The primitives an engine supplies; everything else is built on them."""

    engine: str
    # The dialect pieces the queries of queries.sql include as {name}: list membership, row
    # locking, a batch's item rows.
    dialect: Mapping[str, str]

    def __init__(self) -> None:
        # Every query is expanded and compiled once, here, never per statement.
        self._sql = {name: self._compile(sql) for name, sql in QUERIES.expand(self.dialect).items()}

    def _compile(self, sql: str) -> str:
        return sql

    @abstractmethod
    def _run(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        """Run one named query; return its rows (empty for statements without RETURNING)."""

    @abstractmethod
    def _rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        """Run one named statement; return how many rows it touched."""

    def write_rows(self, writes: Sequence[RowWrite]) -> list[bool]:
        """Run each statement, in order, as if called alone: whether each touched its row.

        One after the other here (SQLite's statements cost no round trip); PostgreSQL sends them
        together (postgres.py).
        """
        return [self._rowcount(w.statement, w.params) == 1 for w in writes]

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    @abstractmethod
    def _applied_versions(self) -> list[int]:
        """The schema versions recorded, or [] for an empty database."""

    @abstractmethod
    def _apply(self, version: int, script: str, now: datetime) -> bool:
        """Apply one migration unless another process did; return whether it ran."""

    @abstractmethod
    def set_statement_timeout(self, seconds: float) -> None:
        """Bound every later statement (and, for SQLite, every wait on another writer's lock)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abstractmethod
    def scrub_deleted(self) -> None:
        """Overwrite what deleted rows left in the database's files, where the engine lets a
        client do so (an erased user's items must not stay readable in free pages)."""

    @abstractmethod
    def hold_lease_owner(self, owner: str) -> None:
        """Show every other process that `owner` lives until this store closes or drops it: a
        lease of a live owner is never taken over while its row is in flight."""

    @abstractmethod
    def drop_lease_owner(self, owner: str) -> None:
        """`owner` is done: the leases it left unsent may be taken over at once."""

    @abstractmethod
    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Reads that all see one consistent snapshot of the database."""

    def changing(self) -> contextlib.AbstractContextManager[None]:
        """Where a write that takes a place in the change feed runs on its own: SQLite's
        transaction, numbered first; PostgreSQL's statement numbers itself (overridden there)."""
        return _numbered(self)

    def mark_changes(self) -> None:
        """Number a writing transaction in the change feed before it writes an item (SQLite;
        PostgreSQL numbers each row by its own transaction id, with nothing to do here)."""
        return None

    def database_now(self) -> datetime | None:
        """The database server's own clock, where it has one apart from this host's (None: the
        database is a file on this host, whose clock it shares)."""
        return None

    def claiming(self) -> contextlib.AbstractContextManager[None]:
        """The transaction a claim runs in (SQLite takes the write lock first)."""
        return self.transaction()

    @staticmethod
    def _connection(row: Row) -> Connection:
        """A Connection; columns read as UNREADABLE are named in `unreadable`, never used."""
        bad = tuple(k for k, v in row.items() if v is UNREADABLE)
        if not bad:
            return Connection(**row)
        fixed: Row = {
            k: (EARLIEST if k in _REQUIRED_TIMES else None) if k in bad else v
            for k, v in row.items()
        }
        return Connection(**fixed, unreadable=bad)


@contextlib.contextmanager
def _numbered(engine: Engine) -> Iterator[None]:
    with engine.transaction():
        engine.mark_changes()
        yield

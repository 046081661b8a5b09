"""The repository: one interface (base.Store), two engines (SQLite and PostgreSQL)."""

from __future__ import annotations

from tokensync.store.base import Store
from tokensync.store.models import Connection, Filters, NewTokens

__all__ = ["Connection", "Filters", "NewTokens", "Store", "open_store"]


def open_store(url: str, *, create: bool = True) -> Store:
    """Connect to the database a URL names (the schema is not touched). With `create` False a
    SQLite file must exist already: a command that only reads never creates a database."""
    if url.startswith(("postgresql:", "postgres:")):
        from tokensync.store.postgres import PostgresStore

        return PostgresStore(url)
    from tokensync.store.sqlite import SQLiteStore, sqlite_path

    return SQLiteStore(sqlite_path(url), create=create)

"""The two engines agree: migrated schemas alike, and queries.sql holds exactly the SQL in use."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import psycopg
import pytest

import tokensync
from tokensync.store.postgres import PostgresStore
from tokensync.store.queries import QUERIES, QueryFile, QueryFileError
from tokensync.store.sqlite import SQLiteStore, sqlite_path

# table -> column -> nullable
Schema = dict[str, dict[str, bool]]

SOURCES = Path(tokensync.__file__).parent
# How the store runs a named query; the engines' own dispatch (self._sql[name]) is not a use.
RUNNERS = frozenset({"_run", "_rowcount"})


def sqlite_schema(url: str) -> Schema:
    """Every table of a SQLite file but SQLite's own (sqlite_sequence)."""
    db = sqlite3.connect(sqlite_path(url))
    try:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        schema: Schema = {}
        for table in tables:
            rows = db.execute(f'PRAGMA table_info("{table}")').fetchall()
            keys = [r for r in rows if r[5]]
            schema[table] = {}
            for _cid, name, decl, notnull, _default, pk in rows:
                # An INTEGER PRIMARY KEY alone is the rowid: PRAGMA says notnull 0, yet a NULL
                # written there becomes a new id. Any other key column SQLite lets be NULL.
                rowid = pk and len(keys) == 1 and decl.upper() == "INTEGER"
                schema[table][name] = not (notnull or rowid)
        return schema
    finally:
        db.close()


def postgres_schema(url: str) -> Schema:
    """Every table of the database's current schema."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
    schema: Schema = {}
    for table, column, nullable in rows:
        schema.setdefault(table, {})[column] = nullable == "YES"
    return schema


def test_migrated_schemas_have_the_same_tables_columns_and_nullability(
    sqlite_url: str, postgres_url: str
) -> None:
    """Both migrated schemas, bookkeeping tables included, have the same tables, the same columns
    in each and the same nullability for each column. Types are not compared: they differ by
    engine on purpose (timestamps are TEXT in SQLite, JSON is TEXT with a json_valid check)."""
    sqlite, postgres = sqlite_schema(sqlite_url), postgres_schema(postgres_url)
    assert {"tokensync_schema", "tokensync_database", "connections"} <= set(sqlite)
    assert sqlite == postgres


def query_names_run() -> dict[str, list[str]]:
    """Each name the code under src/tokensync passes to _run(/_rowcount( or RowWrite( or reads
    from _sql[...], with where; a name that is not a literal is reported as such, since it
    cannot be checked."""
    found: dict[str, list[str]] = {}
    for path in sorted(SOURCES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                # RowWrite("save_refreshed", ...): a statement Engine.write_rows runs
                if node.func.id != "RowWrite":
                    continue
                name = node.args[0] if node.args else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr not in RUNNERS:
                    continue
                name = node.args[0] if node.args else None
                if _is_row_write_dispatch(name):
                    continue
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
                # self._sql["schema_versions"] runs a query; self._sql[name] is _run's dispatch
                if node.value.attr != "_sql" or not isinstance(node.slice, ast.Constant):
                    continue
                name = node.slice
            else:
                continue
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                key = name.value
            else:
                key = "<not a literal>"
            found.setdefault(key, []).append(f"{path.relative_to(SOURCES)}:{node.lineno}")
    return found


def _is_row_write_dispatch(name: ast.expr | None) -> bool:
    """write.statement: Engine.write_rows running the RowWrites counted where they are made."""
    return isinstance(name, ast.Attribute) and name.attr == "statement"


def test_every_named_query_is_used_and_every_query_run_exists() -> None:
    """A query is used when the code runs it by a literal name: stricter than the name appearing
    anywhere, since names such as "needs_reauth" or "release" are common words in the code."""
    run = query_names_run()
    assert run.get("<not a literal>") is None, "a query name must be a literal to be checked"
    assert [name for name in QUERIES.names if name not in run] == [], "dead queries"
    assert {name: at for name, at in run.items() if name not in QUERIES.names} == {}


@pytest.mark.parametrize("store_class", [SQLiteStore, PostgresStore], ids=["sqlite", "postgres"])
def test_every_query_expands_for_each_engine(
    store_class: type[SQLiteStore | PostgresStore],
) -> None:
    """Every {piece} is filled in; values stay :name parameters."""
    expanded = QUERIES.expand(store_class.dialect)
    assert list(expanded) == QUERIES.names
    assert [name for name, sql in expanded.items() if "{" in sql or "}" in sql] == []
    assert ":owner" in expanded["claim_one"]


def test_the_format() -> None:
    """Fragments (nested too) and dialect pieces are included; comments are left out."""
    text = """
-- The file's own comments come first.
-- fragment: cols
id, {extra}
-- fragment: owned
lease_owner = :owner AND {live}
-- fragment: live
status = 'active'
-- name: mine
-- The caller's rows.
SELECT {cols} FROM connections WHERE {owned} {lock}
"""
    queries = QueryFile(text).expand({"lock": "FOR UPDATE", "extra": "status"})
    assert queries == {
        "mine": "SELECT id, status FROM connections "
        "WHERE lease_owner = :owner AND status = 'active' FOR UPDATE"
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-- name: q\nSELECT {nope}", r"line 1: query 'q' includes \{nope\}, an unknown fragment"),
        (
            "-- fragment: f\nid {typo}\n-- name: q\nSELECT {f}",
            r"line 1: fragment 'f' includes \{typo\}, an unknown fragment",
        ),
        (
            "-- name: a\nSELECT 1\n-- name: b\nSELECT {a}",
            r"\{a\}, an unknown fragment \(a query: only fragments can be included\)",
        ),
        ("-- name: q\nSELECT 1\n-- name: q\nSELECT 2", r"line 3: the name 'q' is taken \(line 1\)"),
        ("-- fragment: q\nid\n-- name: q\nSELECT {q}", r"line 3: the name 'q' is taken \(line 1\)"),
        ("-- name: q\n-- only a comment\n-- name: r\nSELECT 1", r"line 1: query 'q' is empty"),
        (
            "-- fragment: f\nid\n-- name: q\nSELECT 1",
            r"line 1: fragment 'f' is included by nothing",
        ),
        ("-- fragment: f\n{f}\n-- name: q\nSELECT {f}", r"fragment 'f' includes itself"),
        ("SELECT 1\n-- name: q\nSELECT 2", r"line 1: SQL before the first -- name: line"),
        ("-- name: Bad-Name\nSELECT 1", r"line 1: 'Bad-Name' is not a name"),
    ],
)
def test_errors_name_the_line_at_fault(text: str, error: str) -> None:
    """Each malformed text is refused with the line at fault."""
    with pytest.raises(QueryFileError, match=error):
        QueryFile(text).expand({"lock": "FOR UPDATE"})


def test_a_fragment_may_not_shadow_a_dialect_piece() -> None:
    """A name that means two things is refused rather than silently resolved."""
    text = "-- fragment: lock\nFOR SHARE\n-- name: q\nSELECT 1 {lock}"
    with pytest.raises(QueryFileError, match="fragment 'lock' is also a piece the engine supplies"):
        QueryFile(text).expand({"lock": "FOR UPDATE"})

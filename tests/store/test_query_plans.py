"""Every recurring query is answered from an index, at a table size where a scan would be chosen
if the index were missing: a run costs what is due, not what the table holds."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.support import with_database
from tokensync.store import Filters, open_store
from tokensync.store.postgres import PostgresStore
from tokensync.store.sqlite import SQLiteStore
from tokensync.store.sqlite import _adapt as sqlite_params

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Enough rows that PostgreSQL would rather scan than probe the primary key, were it not for them.
ROWS = 100_000
PARAMS: dict[str, object] = {
    "owner": "run-1",
    "now": NOW,
    "run_started": NOW,
    "lease_until": NOW + timedelta(minutes=5),
    "lease_seconds": 300.0,
    "due_before": NOW + timedelta(minutes=10),
    "stale_before": NOW - timedelta(days=1),
    "retry_before": NOW,
    "next_poll_at": NOW + timedelta(minutes=10),
    "limit": 200,
    "after_id": 0,
    "platform": "spotify",
    "all_platforms": True,
    "platforms": [],
    "all_users": True,
    "users": [],
    "commands": ["refresh-tokens", "poll-platforms"],
    "status": "needs_reauth",
    "all_statuses": True,
    "statuses": [],
    "user_id": "u7",
    "platform_name": "spotify",
    "endpoint": "top_tracks",
    "keys": ["t7", "t1007"],
    "generation": 2,
    "reason": "absent_from_snapshot",
    "before": NOW,
    "datas": [{}, {}],
    "cursor": None,
    "etag": None,
    "extra": {},
    "any_generation": False,
    "walking_from": 1,
    "sweeps": True,
    # lifecycle events
    "failing_before": NOW - timedelta(hours=6),
    "ends_before": NOW + timedelta(days=7),
    "after": 99_000,
    "all_types": True,
    "types": [],
    "scrubbed": {},
    # the change feed: a page after a position, below the horizon
    "txn": 0,
    "id": 99_000,
    "horizon": 10**15,
    "all_endpoints": True,
    # a batch that writes its poll's data.changed event
    "event_id": "evt_plan",
    "type": "data.changed",
    "connection_id": 7,
    "data": {},
    "give_up_at": NOW + timedelta(days=3),
    "earlier_new": 0,
    "earlier_changed": 0,
    "earlier_deleted": 0,
    # a batch of 64 lease checks, as a full wave of answers frees 64 request slots
    "ids": list(range(1_000, 1_064)),
    "owners": ["run"] * 64,
    "generations": [1] * 64,
    "tokens": ["r"] * 64,
    "lease_lengths": [300.0] * 64,
}
# The unique index of user_platform_data, (user_id, platform, endpoint, item_key), as each engine
# names the index it made for the constraint.
DATA_KEY = "user_platform_data key"
DATA_KEY_INDEX = {
    "postgres": "user_platform_data_user_id_platform_endpoint_item_key_key",
    "sqlite": "sqlite_autoindex_user_platform_data_1",
}
# The recurring queries and the index each must use.
RECURRING = {
    "claim_due_refreshes": {"connections_refresh_due", "connections_refresh_age"},
    "claim_due_polls": {"connections_poll_due"},
    "count_failing": {"connections_failing"},
    "failing": {"connections_failing"},
    "needs_reauth": {"connections_needs_reauth"},
    "soonest_expiries": {"connections_expiry"},
    "last_runs": set(),  # runs_latest, or the primary key read backwards: both stop at once
    # `tokens list`: a page by id costs its rows, on the primary key; one status, its own index.
    "list_connections": set(),
    "list_connections_by_status": {"connections_by_status"},
    # What an application asks at every request (`tokens get`), and a --user run's selection:
    # the unique (user_id, platform) index, whatever its name on each engine.
    "find_connection": set(),
    "user_connections": set(),
    # One connection's endpoint: a range of the unique index, the cost of its own items.
    "known_keys": {DATA_KEY},
    "stored_data": {DATA_KEY},
    "stamp_seen": {DATA_KEY},
    "tombstone_keys": {DATA_KEY},
    "sweep_walk": {DATA_KEY},
    # data prune: the tombstones older than a date, never the live rows.
    "count_tombstones": {"user_platform_data_tombstones"},
    "prune_tombstones": {"user_platform_data_tombstones"},
    # Lifecycle events: each job run's end and `events deliver` publish, announce, give up,
    # prune and claim; `status` counts; `events list` pages by position.
    "publish_events": set(),  # events_unpublished, or SQLite's seq index probed for NULL
    "notice_failing": {"connections_streak_start"},
    "notice_expiring": {"connections_grant_end"},
    "count_grant_ends": {"connections_grant_end"},
    "grant_ends": {"connections_grant_end"},
    # Any of the partial indexes of pending events (all the size of what is pending).
    "claim_event_heads": set(),
    "give_up_events": {"events_give_up"},
    "prune_events": {"events_finished"},
    "dead_events": {"events_dead"},
    "event_counts": set(),  # two partial indexes (pending, dead), whichever is smaller
    "list_events": set(),  # the unique seq index, whatever its name on each engine
    "unreplayable_events": set(),  # what `events replay` counts: the same range of seq
    # `data changes`: a page of the feed is a range of its index, in its order; the horizon and
    # the pruned position, one row.
    "read_changes": {"user_platform_data_changes"},
    "change_horizon": set(),
    # The keyring's sample before an import, save_grant or a job writes: the primary key read
    # backwards, a few rows whatever the table holds.
    "newest_ciphertexts": set(),
}
TABLES = ("connections", "runs", "user_platform_data", "events")
# PostgreSQL's own statements (the other engine runs their parts one by one, planned above).
RECURRING_POSTGRES = {
    **RECURRING,
    "save_walk_batch": {DATA_KEY},
    "save_walk_batch_announced": {DATA_KEY},
    # A batch of lease checks: each row found by its id, never a scan of the table.
    "confirm_leases": {"connections_pkey"},
}

# A million connections in miniature: valid for 30 days, a few due, some failing, some dead.
FILL = """
INSERT INTO connections (user_id, platform, access_token_enc, refresh_token_enc, expires_at,
    status, tokens_updated_at, failure_count, next_attempt_at, next_poll_at, created_at,
    updated_at)
SELECT 'u' || g, CASE g % 3 WHEN 0 THEN 'spotify' WHEN 1 THEN 'github' ELSE 'discord' END,
    'a', 'r',
    CASE WHEN g % 1000 = 1 THEN :soon ELSE :later END,
    CASE WHEN g % 97 = 0 THEN 'needs_reauth' ELSE 'active' END,
    :recent, CASE WHEN g % 50 = 0 THEN 3 ELSE 0 END,
    CASE WHEN g % 50 = 0 THEN :later ELSE NULL END,
    :later, :recent, :recent
FROM {series}
"""
RUNS = """
INSERT INTO runs (run_id, command, started_at)
SELECT 'run-' || g, CASE g % 2 WHEN 0 THEN 'refresh-tokens' ELSE 'poll-platforms' END, :recent
FROM {series}
"""
# A hundred items each for a thousand connections (spotify top tracks), a hundredth tombstoned.
ITEMS = """
INSERT INTO user_platform_data (user_id, platform, endpoint, item_key, data, first_seen_at,
    fetched_at, generation, deleted_at, deleted_reason)
SELECT 'u' || (g % 1000), 'spotify', 'top_tracks', 't' || g, '{{}}', :recent, :recent, g % 3,
    CASE WHEN g % 100 = 0 THEN :recent END,
    CASE WHEN g % 100 = 0 THEN 'absent_from_snapshot' END
FROM {series}
"""
# As many events, nearly all delivered: a thousandth pending, a few dead, a hundredth old enough
# to prune (events list, replay and status must not cost the whole outbox either).
EVENTS = """
INSERT INTO events (event_id, seq, type, user_id, connection_id, data, created_at, status,
    attempts, next_attempt_at, give_up_at, delivered_at)
SELECT 'evt_' || g, g, 'connection.needs_reauth', 'u' || (g % 5000), g, '{{}}',
    CASE WHEN g % 100 = 0 THEN :old ELSE :recent END,
    CASE WHEN g % 1000 = 0 THEN 'pending' WHEN g % 997 = 0 THEN 'dead' ELSE 'delivered' END,
    1, :recent, :later, :recent
FROM {series}
"""
FILL_PARAMS = {
    "soon": NOW + timedelta(minutes=2),
    "later": NOW + timedelta(days=30),
    "recent": NOW - timedelta(hours=1),
    "old": NOW - timedelta(days=40),
}


def used_params(sql: str, pattern: str) -> set[str]:
    """The parameter names a query's text uses."""
    return set(re.findall(pattern, sql))


def params_of(sql: str, pattern: str) -> dict[str, object]:
    """The values of the parameters a query uses (:platform names an item's platform in the
    queries of user_platform_data, and the platform claimed in the others)."""
    values = {**PARAMS}
    if "user_platform_data" in sql:
        values["platform"] = values["platform_name"]
    if "FROM events" in sql:  # prune_events: past the retention, not the tombstones' date
        values["before"] = NOW - timedelta(days=30)
    return {k: v for k, v in values.items() if k in used_params(sql, pattern)}


def expected(name: str, engine: str) -> set[str]:
    """The indexes a query must use on an engine."""
    return {DATA_KEY_INDEX[engine] if i == DATA_KEY else i for i in RECURRING_POSTGRES[name]}


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a PostgreSQL plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@pytest.fixture(scope="module")
def big_postgres(pg_admin_url: str, pg_template: str) -> Iterator[PostgresStore]:
    """A migrated PostgreSQL database of ROWS connections, shared by this module's tests."""
    name = f"tokensync_plans_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = with_database(pg_admin_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        series = f"generate_series(1, {ROWS}) AS g"
        for statement in (FILL, RUNS, ITEMS, EVENTS):
            text = statement.format(series=series).replace("%", "%%")  # psycopg's placeholders
            conn.execute(re.sub(r":(\w+)", r"%(\1)s", text), FILL_PARAMS)
        conn.execute("ANALYZE")
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    yield store
    store.close()
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def big_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    """A migrated SQLite file of ROWS connections, shared by this module's tests."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}")
    assert isinstance(store, SQLiteStore)
    store.migrate(NOW)
    # SQLite's generate_series is an extension: a recursive CTE counts instead.
    series = (
        "(WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < "
        f"{ROWS}) SELECT g FROM n)"
    )
    with store.transaction():
        for statement in (FILL, RUNS, ITEMS, EVENTS):
            store._exec(statement.format(series=series), sqlite_params(FILL_PARAMS))
    store._exec("ANALYZE")
    yield store
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(RECURRING_POSTGRES))
def test_postgres_answers_from_an_index(big_postgres: PostgresStore, name: str) -> None:
    sql = big_postgres._sql[name]
    params = params_of(sql, r"%\((\w+)\)s")
    (row,) = big_postgres._execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchall()
    (plan,) = json.loads(json.dumps(row["QUERY PLAN"]))
    # A JIT compilation costs more than any of these statements runs (a second at 1,000,000
    # connections, where the claim's cost passes the thresholds): the store's sessions turn it off.
    assert "JIT" not in plan, plan["JIT"]
    nodes = list(plan_nodes(plan["Plan"]))
    scans = [
        (n["Node Type"], n.get("Relation Name")) for n in nodes if "Seq Scan" in n["Node Type"]
    ]
    assert not [s for s in scans if s[1] in TABLES], scans
    used = {n["Index Name"] for n in nodes if "Index Name" in n}
    assert expected(name, "postgres") <= used, used


@pytest.mark.postgres
def test_postgres_sessions_compile_nothing(big_postgres: PostgresStore) -> None:
    """JIT stays off on the store's connection whatever the server's setting, and after the
    connection is made again."""
    assert big_postgres._execute("SHOW jit", {}).fetchall() == [{"jit": "off"}]
    big_postgres._live().close()
    assert big_postgres._execute("SHOW jit", {}).fetchall() == [{"jit": "off"}]


@pytest.mark.parametrize("name", sorted(RECURRING))
def test_sqlite_answers_from_an_index(big_sqlite: SQLiteStore, name: str) -> None:
    sql = big_sqlite._sql[name]
    params = params_of(sql, r":(\w+)")
    plan = [r[3] for r in big_sqlite._exec("EXPLAIN QUERY PLAN " + sql, sqlite_params(params))]
    tables = "|".join((*TABLES, "r", "r2"))
    bare = [p for p in plan if re.match(rf"SCAN ({tables})\b", p) and "INDEX" not in p]
    assert not bare, plan
    for index in expected(name, "sqlite"):
        assert any(index in p for p in plan), plan


def test_the_due_rows_found_are_the_due_rows(big_sqlite: SQLiteStore) -> None:
    """The indexes narrow the scan, never the answer: a dry run finds exactly the due rows."""
    found = big_sqlite.find_due_refreshes(
        now=NOW,
        due_before=NOW + timedelta(minutes=10),
        stale_before=NOW - timedelta(days=1),
        after_id=0,
        limit=1000,
        filters=Filters(),
    )
    due = [c.user_id for c in found]
    expected = [f"u{g}" for g in range(1, ROWS + 1) if g % 1000 == 1 and g % 97 and g % 50]
    assert due == expected

"""Plain helpers the tests share: a run's result, seeding connections, reading back the store.

Fixtures live in conftest.py; the helpers for driving one platform adapter directly live in
tests/platforms/support.py, beside the only tests that use them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tokensync.crypto import Keyring, binding
from tokensync.store import Connection, Filters, open_store
from tokensync.store.sqlite import from_text, sqlite_path, to_text

TOKEN_URLS = {
    "spotify": "https://accounts.spotify.com/api/token",
    "google": "https://oauth2.googleapis.com/token",
    "github": "https://github.com/login/oauth/access_token",
    "discord": "https://discord.com/api/oauth2/token",
}

# Client credentials for every built-in platform; each value is distinct, so a test can look for
# any of them in what tokensync printed.
CLIENT_ENV = {
    f"TOKENSYNC_{name}_{half}": f"{name.lower()}-{half.lower().replace('_', '-')}-value"
    for name in ("SPOTIFY", "GOOGLE", "GITHUB", "DISCORD")
    for half in ("CLIENT_ID", "CLIENT_SECRET")
}


class CliResult:
    """What one tokensync invocation printed and returned."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> Any:
        """stdout parsed: it must be exactly one JSON document."""
        return json.loads(self.out)


# run_cli and cli: (*args, stdin="", extra_env=None) -> CliResult
Cli = Callable[..., CliResult]


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def seed(run_cli: Cli, *records: tuple[str, str], expires_in: int = 60) -> None:
    """Import (user, platform) connections whose tokens expire soon: RT-<platform>-<user>."""
    lines = [
        json.dumps(
            {
                "userId": user,
                "platform": platform,
                "accessToken": f"AT-{platform}-{user}",
                "refreshToken": f"RT-{platform}-{user}",
                "expiresIn": expires_in,
            }
        )
        for user, platform in records
    ]
    result = run_cli("tokens", "import", stdin="\n".join(lines))
    assert result.code == 0, result.out


def connection(db_url: str, user: str, platform: str) -> Connection:
    """The stored row of one connection."""
    store = open_store(db_url)
    try:
        (conn,) = store.iter_connections(Filters(platforms=(platform,), users=(user,)))
        return conn
    finally:
        store.close()


def tokens(db_url: str, key: str, user: str, platform: str) -> tuple[str, str | None]:
    """The decrypted (access, refresh) tokens stored for a connection."""
    conn = connection(db_url, user, platform)
    ring = Keyring([key])
    access = ring.decrypt(conn.access_token_enc, binding(user, platform, "access"), "test")
    refresh = (
        ring.decrypt(conn.refresh_token_enc, binding(user, platform, "refresh"), "test")
        if conn.refresh_token_enc
        else None
    )
    return access, refresh


def results_by_user(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The refresh document's results keyed by user id."""
    return {r["userId"]: r for r in document["results"]}


def expire_all(db_url: str, seconds: int = 60) -> None:
    """Time passes: every token now expires within `seconds` (as the provider's clock says)."""
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    if db_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(db_url)) as db:
            db.execute("UPDATE connections SET expires_at = ?", (to_text(when),))
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE connections SET expires_at = %s", (when,))


def lapse_leases(db_url: str, owner: str | None = None, *, lease: str = "lease") -> int:
    """Time passes for `owner`'s leases (every run's, if None): each has ended. Returns how many.
    `lease="poll_lease"` for the poll leases."""
    ended = datetime.now(UTC) - timedelta(seconds=1)
    whose = f"{lease}_owner = {{owner}}" if owner else f"{lease}_owner IS NOT NULL"
    sql = f"UPDATE connections SET {lease}_expires_at = {{ended}} WHERE " + whose
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db, db:  # committed, then closed
            named = sql.format(ended=":ended", owner=":owner")
            return db.execute(named, {"ended": to_text(ended), "owner": owner}).rowcount
    with psycopg.connect(db_url, autocommit=True) as conn:
        named = sql.format(ended="%(ended)s", owner="%(owner)s")
        return conn.execute(named, {"ended": ended, "owner": owner}).rowcount


def run_sql(db_url: str, sql: str, *params: object) -> int:
    """One statement as another program would run it (`?` placeholders); the rows it touched."""
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db, db:  # committed, then closed
            return db.execute(sql, params).rowcount
    with psycopg.connect(db_url, autocommit=True) as conn:
        sql = sql.replace("%", "%%").replace("?", "%s")  # psycopg's placeholders
        return conn.execute(sql, params).rowcount  # type: ignore[arg-type]


def query_value(db_url: str, sql: str) -> object:
    """The first column of the first row of one query."""
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db:
            return db.execute(sql).fetchone()[0]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def stored_items(db_url: str, user: str, platform: str) -> dict[str, int]:
    """How many items are stored for one connection, by endpoint."""
    sql = (
        "SELECT endpoint, COUNT(*) FROM user_platform_data WHERE user_id = {p} AND platform = {p}"
        " GROUP BY endpoint"
    )
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db:
            rows = db.execute(sql.format(p="?"), (user, platform)).fetchall()
    else:
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(sql.format(p="%s"), (user, platform)).fetchall()
    return {str(endpoint): int(n) for endpoint, n in rows}


@dataclass(frozen=True)
class StoredRow:
    """One row of user_platform_data, as a test reads it back."""

    data: Any
    deleted_at: datetime | None
    deleted_reason: str | None
    fetched_at: datetime


def rows_of(db_url: str, user: str, platform: str, endpoint: str) -> dict[str, StoredRow]:
    """Every stored item of one endpoint of a connection, tombstones included, by key."""
    sql = (
        "SELECT item_key, data, deleted_at, deleted_reason, fetched_at FROM user_platform_data"
        " WHERE user_id = {p} AND platform = {p} AND endpoint = {p}"
    )
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db:
            rows = db.execute(sql.format(p="?"), (user, platform, endpoint)).fetchall()
        return {
            key: StoredRow(json.loads(data), from_text(gone) if gone else None, why, from_text(at))
            for key, data, gone, why, at in rows
        }
    with psycopg.connect(db_url) as conn:
        found = conn.execute(sql.format(p="%s"), (user, platform, endpoint)).fetchall()
    return {key: StoredRow(data, gone, why, at) for key, data, gone, why, at in found}


def live_keys(db_url: str, user: str, platform: str, endpoint: str) -> set[str]:
    """The keys of an endpoint's stored items that are not tombstoned."""
    return {k for k, row in rows_of(db_url, user, platform, endpoint).items() if not row.deleted_at}


def tombstones(db_url: str, user: str, platform: str, endpoint: str) -> dict[str, str | None]:
    """The tombstoned items of an endpoint, with the reason of each."""
    rows = rows_of(db_url, user, platform, endpoint).items()
    return {key: row.deleted_reason for key, row in rows if row.deleted_at}


# -- time -----------------------------------------------------------------------------------------

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# How long (real time) a fake sleep waits for a woken heartbeat to finish its database work.
_SETTLE_LIMIT = 30.0


@dataclass
class _Timer:
    deadline: float
    future: asyncio.Future[None]
    task: asyncio.Task[object] | None


class FakeClock:
    """A Clock on which time moves only by sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self._start = start
        self.elapsed = 0.0
        self.slept: list[float] = []
        self._timers: list[_Timer] = []

    def now(self) -> datetime:
        """The start plus the time slept so far."""
        return self._start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        """The time slept so far."""
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        """Pass `seconds` at once, firing each heartbeat on the way and letting it work."""
        seconds = max(seconds, 0.0)
        self.slept.append(seconds)
        target = self.elapsed + seconds
        while due := [t for t in self._timers if t.deadline <= target]:
            self.elapsed = max(self.elapsed, min(t.deadline for t in due))
            fired = [t for t in self._timers if t.deadline <= self.elapsed]
            for timer in fired:
                self._timers.remove(timer)
                if not timer.future.done():
                    timer.future.set_result(None)
            for timer in fired:
                await self._settled(timer.task)
        self.elapsed = target
        await asyncio.sleep(0)

    async def after(self, seconds: float) -> None:
        """Return once a sleep has moved time `seconds` past now."""
        future = asyncio.get_running_loop().create_future()
        self._timers.append(
            _Timer(self.elapsed + max(seconds, 0.0), future, asyncio.current_task())
        )
        try:
            await future
        finally:
            self._timers = [t for t in self._timers if t.future is not future]

    async def _settled(self, task: asyncio.Task[object] | None) -> None:
        """Wait (in real time) until a woken task ends or waits on this clock again."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _SETTLE_LIMIT
        while task is not None and not task.done() and loop.time() < give_up:
            if any(t.task is task for t in self._timers):
                return
            await asyncio.sleep(0.001)

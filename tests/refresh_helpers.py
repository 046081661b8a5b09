"""Shared pieces of the refresh tests: seeding connections and reading back what was stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import CliResult
from tokensync.crypto import Keyring, binding
from tokensync.store import Connection, Filters, open_store

Cli = Callable[..., CliResult]

TOKEN_URLS = {
    "spotify": "https://accounts.spotify.com/api/token",
    "google": "https://oauth2.googleapis.com/token",
    "github": "https://github.com/login/oauth/access_token",
    "discord": "https://discord.com/api/oauth2/token",
}


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
    from datetime import UTC, datetime, timedelta

    from tokensync.store.sqlite import sqlite_path, to_text

    when = datetime.now(UTC) + timedelta(seconds=seconds)
    if db_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(sqlite_path(db_url)) as db:
            db.execute("UPDATE connections SET expires_at = ?", (to_text(when),))
    else:
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE connections SET expires_at = %s", (when,))

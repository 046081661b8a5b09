"""docs/migrating.md's script template, clients/node/examples/export-tokens.mjs, on an application's
own token table (AES-256-GCM, as the template reads it) in PostgreSQL: `--check` decrypts every row
and prints no token; its lines piped into `tokens import` are the connections tokensync then
serves to Node and refreshes; a row that does not decrypt stops it, naming the row, no token."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.process.test_node_client import NODE, PACKAGE, app_db, node, pytestmark  # noqa: F401
from tests.support.support import Cli, connection, tokens
from tokensync.platforms.catalog import BUILTIN_PLATFORMS

TEMPLATE = PACKAGE / "examples" / "export-tokens.mjs"
OLD_KEY = os.urandom(32)
CONNECTED = datetime(2026, 9, 15, 8, 30, tzinfo=UTC)


def sealed(token: str, key: bytes = OLD_KEY) -> str:
    """A token as the old application stored it: iv:tag:ciphertext in hex."""
    iv = os.urandom(12)
    out = AESGCM(key).encrypt(iv, token.encode(), None)
    return f"{iv.hex()}:{out[-16:].hex()}:{out[:-16].hex()}"


def old_table(db_url: str, users: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE oauth_tokens (id SERIAL PRIMARY KEY, user_id TEXT, provider TEXT, "
            "access_token TEXT, refresh_token TEXT, expires_at TIMESTAMPTZ, scope TEXT, "
            "connected_at TIMESTAMPTZ)"
        )
        expires = datetime.now(UTC) + timedelta(hours=1)
        for i in range(users):
            conn.execute(
                "INSERT INTO oauth_tokens (user_id, provider, access_token, refresh_token, "
                "expires_at, scope, connected_at) VALUES (%s, 'spotify', %s, %s, %s, %s, %s)",
                (
                    f"u{i}",
                    sealed(f"OLD-AT-{i}"),
                    sealed(f"OLD-RT-{i}"),
                    expires,
                    "streaming",
                    CONNECTED,
                ),
            )


def export(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), str(TEMPLATE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OLD_DATABASE_URL": db_url, "OLD_TOKEN_KEY": OLD_KEY.hex()},
        check=False,
    )


@pytest.mark.parametrize("engine", ["postgres"])
def test_the_export_template_moves_an_apps_own_table_into_tokensync(
    run_cli: Cli,
    db_url: str,
    key: str,
    app_db: dict[str, str],  # noqa: F811
) -> None:
    users = 1203  # more than a page of the template's keyset reads
    old_table(db_url, users)

    checked = export(db_url, "--check")
    assert checked.returncode == 0, checked.stderr
    assert (
        checked.stdout == "" and checked.stderr == f"export-tokens: {users} connections decrypt\n"
    )

    exported = export(db_url)
    assert exported.returncode == 0, exported.stderr
    imported = run_cli("tokens", "import", stdin=exported.stdout)
    assert imported.code == 0 and imported.json["inserted"] == users, imported.out

    assert tokens(db_url, key, "u1202", "spotify") == ("OLD-AT-1202", "OLD-RT-1202")
    row = connection(db_url, "u7", "spotify")
    assert row.scope == "streaming" and row.grant_generation == 1
    assert row.refresh_token_expires_at == BUILTIN_PLATFORMS["spotify"].grant_end(CONNECTED)
    read = node({"op": "token", "userId": "u7", "platform": "spotify"}, key, app_db)
    assert read["accessToken"] == "OLD-AT-7"


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_row_that_does_not_decrypt_stops_the_export_naming_the_row(db_url: str, key: str) -> None:
    old_table(db_url, 3)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE oauth_tokens SET access_token = %s WHERE user_id = 'u1'",
            (sealed("OLD-AT-1", os.urandom(32)),),
        )
    checked = export(db_url, "--check")
    assert checked.returncode == 1
    assert checked.stderr == "export-tokens: row 2: its tokens do not decrypt with OLD_TOKEN_KEY\n"
    assert "OLD-AT" not in checked.stdout + checked.stderr

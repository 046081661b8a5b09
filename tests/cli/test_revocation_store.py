"""The store's side of pushed revocations, on both engines: schema 13 over a database that holds
rows, a delivery applied once, and a revoked row (no token) that the key checks, key rotation and
`tokens disconnect` pass over."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import psycopg
import pytest
import respx

from tests.support.support import Cli, connection, query_value, run_sql, with_database
from tokensync.crypto import generate_key
from tokensync.store import open_store
from tokensync.store.base import migrations
from tokensync.store.revocations import AccountRevocation

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_names = count()


@pytest.fixture
def empty_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the engine under test with no schema at all."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin = str(request.getfixturevalue("pg_admin_url"))
    name = f"tokensync_old{os.getpid()}_{next(_names)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(admin, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_schema_13_keeps_every_row_and_id_and_accepts_the_new_values(empty_url: str) -> None:
    store = open_store(empty_url)
    try:
        for version, script in migrations(store.engine):
            if version < 13:
                store._apply(version, script, NOW)
    finally:
        store.close()
    stamp = NOW.isoformat() if empty_url.startswith("postgres") else "2026-12-01T12:00:00.000000Z"
    for user in ("u1", "u2"):
        run_sql(
            empty_url,
            "INSERT INTO connections (user_id, platform, access_token_enc, status, "
            "tokens_updated_at, created_at, updated_at) VALUES (?, 'github', 'x', 'needs_reauth', "
            "?, ?, ?)",
            user,
            stamp,
            stamp,
            stamp,
        )
    run_sql(empty_url, "DELETE FROM connections WHERE user_id = 'u2'")  # its id is never reused
    run_sql(
        empty_url,
        "INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, "
        "next_attempt_at, give_up_at) VALUES ('evt_1', 'user.erased', 'u9', NULL, ?, ?, ?, ?)",
        json.dumps({"userId": "u9"}),
        stamp,
        stamp,
        stamp,
    )
    store = open_store(empty_url)
    try:
        assert store.migrate(NOW) == [13]
    finally:
        store.close()
    old = connection(empty_url, "u1", "github")
    assert (old.id, old.status, old.provider_user_id) == (1, "needs_reauth", None)
    run_sql(empty_url, "UPDATE connections SET status = 'revoked', provider_user_id = '583231'")
    run_sql(
        empty_url,
        "INSERT INTO connections (user_id, platform, access_token_enc, tokens_updated_at, "
        "created_at, updated_at) VALUES ('u3', 'github', 'x', ?, ?, ?)",
        stamp,
        stamp,
        stamp,
    )
    assert connection(empty_url, "u3", "github").id == 3, "the id counter was carried over"
    run_sql(
        empty_url,
        "INSERT INTO events (event_id, type, user_id, connection_id, data, created_at, "
        "next_attempt_at, give_up_at) VALUES ('evt_2', 'connection.revoked', 'u1', 1, ?, ?, ?, ?)",
        json.dumps({"connectionId": 1}),
        stamp,
        stamp,
        stamp,
    )
    assert query_value(empty_url, "SELECT COUNT(*) FROM events") == 2
    with pytest.raises(Exception, match=r"(?i)check"):
        run_sql(empty_url, "UPDATE connections SET status = 'gone'")


def test_a_delivery_is_applied_once(cli: Cli, db_url: str) -> None:
    line = {"platform": "github", "accessToken": "AT", "refreshToken": "RT", "providerUserId": "7"}
    assert cli("tokens", "import", stdin=json.dumps({"userId": "u1", **line})).code == 0
    account = AccountRevocation("7", ("github",), "github_app_authorization.revoked")
    store = open_store(db_url)
    try:
        first = store.apply_revocation("github", "d1", [account], NOW)
        assert first is not None and [c.user_id for c in first.revoked] == ["u1"]
        assert store.apply_revocation("github", "d1", [account], NOW) is None
        # Another delivery for the same account: known (its connection is revoked), not unknown.
        other = store.apply_revocation("github", "d2", [account], NOW)
        assert other is not None and (other.revoked, other.unknown_accounts) == ((), 0)
        # The same id from another source is another delivery.
        google = store.apply_revocation("google-risc", "d1", [], NOW)
        assert google is not None
    finally:
        store.close()
    assert query_value(db_url, "SELECT COUNT(*) FROM events") == 1


def test_a_revoked_row_holds_no_token_that_keys_or_disconnect_would_read(
    cli: Cli, db_url: str, key: str, mock_http: respx.MockRouter
) -> None:
    line = {"platform": "github", "accessToken": "AT", "refreshToken": "RT", "providerUserId": "7"}
    lines = [json.dumps({"userId": u, **line}) for u in ("u1", "u2")]
    assert cli("tokens", "import", stdin="\n".join(lines)).code == 0
    store = open_store(db_url)
    try:
        account = AccountRevocation("7", ("github",), "github_app_authorization.revoked")
        store.apply_revocation("github", "d1", [account], NOW)
    finally:
        store.close()
    # The newest rows hold no token now: the key check before a write samples none of them (an
    # empty ciphertext opens with no key, and the import would be refused as wrong_key).
    another = json.dumps({"userId": "u0", "platform": "spotify", "accessToken": "AT-0"})
    imported = cli("tokens", "import", stdin=another)
    assert imported.code == 0, imported.err
    rotated = cli(
        "keys", "rotate", extra_env={"TOKENSYNC_ENCRYPTION_KEYS": f"{generate_key()},{key}"}
    )
    assert rotated.code == 0, rotated.out
    assert (rotated.json["rotated"], rotated.json["failed"]) == (1, 0)
    # Disconnecting a revoked connection revokes nothing (strict respx: no request) and deletes.
    gone = cli("tokens", "disconnect", "--user", "u1", "--platform", "github")
    assert gone.code == 0, gone.out
    assert gone.json["revocation"] == {
        "revoked": False,
        "reason": "the user revoked the grant at the provider already: nothing to revoke",
    }
    assert gone.json["deleted"]["connections"] == 1
    assert [c["status"] for c in cli("tokens", "list", "--status", "revoked").json] == ["revoked"]

"""clients/node, the package a Node application uses, against databases that tokensync created
(both engines; PostgreSQL through the role an operator makes for the application, docs/node.md):
a grant saved from Node is read by Python, refreshed by `refresh-tokens` against the strict
rotating provider, and read back in Node; a grant saved from Node while the old grant's refresh is
in flight wins; a ciphertext made for another row is refused; the role can do what the docs say
and nothing more. Node's own tests (`npm test`) run here too, on the same kind of databases.
Without node, or without `npm ci` run in clients/node, skipped saying why (a failure in CI)."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.support.processes import ProviderProcess, finish, running_provider, tokensync, wait_for
from tests.support.support import Cli, connection, query_value, run_sql, tokens
from tokensync.platforms.catalog import BUILTIN_PLATFORMS as PLATFORMS
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor
from tokensync.store.sqlite import sqlite_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "node"
STEPS = ROOT / "tests" / "support" / "node_steps.mjs"
NODE = shutil.which("node")
_missing = (
    "node is not installed"
    if NODE is None
    else "clients/node has no node_modules: run `npm ci` there"
    if not (PACKAGE / "node_modules" / "pg").is_dir()
    else None
)
if _missing and os.environ.get("CI") == "true":
    raise RuntimeError(f"the Node client's tests cannot run: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=f"{_missing}: not run")

_roles = itertools.count()
# The login roles made here have one (a server that asks for passwords gets it; trust ignores it).
PASSWORD = secrets.token_hex(16)


@pytest.fixture
def app_db(db_url: str) -> Iterator[dict[str, str]]:
    """How the Node application reaches the database: the SQLite file, or PostgreSQL as a login
    role the operator made and granted with tokensync_grant_app_role (docs/node.md)."""
    if db_url.startswith("sqlite"):
        yield {"sqlite": str(sqlite_path(db_url))}
        return
    role = f"tsapp_{os.getpid()}_{next(_roles)}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
        conn.execute("SELECT tokensync_grant_app_role(%s)", (role,))
    yield {"pg": as_role(db_url, role)}
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def as_role(db_url: str, role: str) -> str:
    """The database's URL, logging in as `role` (with the password the tests give roles)."""
    parts = urlsplit(db_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{PASSWORD}@{host}"))


def node(step: dict[str, Any], key: str, db: dict[str, str]) -> Any:
    """Run one step of the application in Node; its JSON result (an error as {"error": ...})."""
    done = subprocess.run(
        [str(NODE), str(STEPS), json.dumps({**step, "db": db})],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TOKENSYNC_ENCRYPTION_KEYS": key},
        check=False,
    )
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def callback_grant(user: str, kind: str, expires_in: int = 3600) -> dict[str, object]:
    """What an OAuth callback receives for `user`: the `kind` grant's token response."""
    return {
        "access_token": f"AT-{user}-{kind}",
        "refresh_token": f"{kind.upper()}-RT-{user}",
        "expires_in": expires_in,
        "scope": "identify guilds",
        "token_type": "Bearer",
    }


def configured(provider: ProviderProcess, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    config = provider.config(tmp_path / "tokensync.toml", revocation=True)
    return {**env, "TOKENSYNC_CONFIG": str(config)}


def test_a_grant_saved_from_node_is_refreshed_by_tokensync_and_read_back_in_node(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str, key: str, app_db: dict[str, str]
) -> None:
    with running_provider("--delay", "0") as provider:
        env = configured(provider, env, tmp_path)
        provider.add_grants(["NODE-RT-u1"])
        saved = node(
            {
                "op": "save",
                "userId": "u1",
                "platform": "discord",
                "grant": callback_grant("u1", "node"),
            },
            key,
            app_db,
        )
        assert saved == {
            "connectionId": saved["connectionId"],
            "grantGeneration": 1,
            "created": True,
        }
        assert tokens(db_url, key, "u1", "discord") == ("AT-u1-node", "NODE-RT-u1"), (
            "Python reads it"
        )
        row = connection(db_url, "u1", "discord")
        assert (row.scope, row.token_type, row.status) == ("identify guilds", "Bearer", "active")

        # Fresh for an hour: Node hands out the stored token, and nothing is due.
        fresh = node({"op": "token", "userId": "u1", "platform": "discord"}, key, app_db)
        assert fresh["accessToken"] == "AT-u1-node" and fresh["grantGeneration"] == 1
        idle = run_cli("refresh-tokens", extra_env=env)
        assert idle.code == 0 and idle.json["tokensRefreshed"] == 0, idle.out

        # The application asks for a refresh: the next run takes it, whatever its expiry.
        asked = node({"op": "request", "userId": "u1", "platform": "discord"}, key, app_db)
        assert asked == "requested"
        assert connection(db_url, "u1", "discord").refresh_requested_at is not None
        run = run_cli("refresh-tokens", extra_env=env)
        assert run.code == 0 and run.json["tokensRefreshed"] == 1, run.out
        access, refresh = tokens(db_url, key, "u1", "discord")
        assert refresh != "NODE-RT-u1" and provider.live() == {refresh}, "rotated, once"
        assert connection(db_url, "u1", "discord").refresh_requested_at is None, "answered"

        read = node({"op": "token", "userId": "u1", "platform": "discord"}, key, app_db)
        assert read["accessToken"] == access != "AT-u1-node", "Node reads what Python wrote"
        assert provider.stats()["reused_tokens"] == 0


def test_node_waits_for_the_refresh_it_asked_for_or_says_retry(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str, key: str, app_db: dict[str, str]
) -> None:
    with running_provider("--delay", "0") as provider:
        env = configured(provider, env, tmp_path)
        provider.add_grants(["NODE-RT-u1"])
        grant = callback_grant("u1", "node", expires_in=120)  # under the 300 s asked for
        node({"op": "save", "userId": "u1", "platform": "discord", "grant": grant}, key, app_db)

        nobody = node(
            {"op": "token", "userId": "u1", "platform": "discord", "options": {"waitMs": 300}},
            key,
            app_db,
        )
        assert nobody["error"]["code"] == "retry", "no run refreshed it: the caller retries"

        # A `tokens get` elsewhere answers the request (it refreshes first), and Node, waiting,
        # gets that token.
        step = {"op": "token", "userId": "u1", "platform": "discord", "options": {"waitMs": 60000}}
        waiting = subprocess.Popen(
            [str(NODE), str(STEPS), json.dumps({**step, "db": app_db})],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TOKENSYNC_ENCRYPTION_KEYS": key},
        )
        got = run_cli(
            "tokens",
            "get",
            "--user",
            "u1",
            "--platform",
            "discord",
            "--min-ttl",
            "0",
            extra_env=env,
        )
        assert got.code == 0 and got.json["refreshed"] is True, got.out
        out, _ = waiting.communicate(timeout=120)
        assert json.loads(out)["accessToken"] == got.json["accessToken"]
        assert provider.stats()["refreshes"] == 1 and provider.stats()["reused_tokens"] == 0


def test_a_grant_saved_from_node_during_the_old_grants_refresh_wins(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str, key: str, app_db: dict[str, str]
) -> None:
    n = 3
    with running_provider("--delay", "0") as provider:
        env = configured(provider, env, tmp_path)
        provider.add_grants([f"OLD-RT-u{i}" for i in range(n)] + [f"NEW-RT-u{i}" for i in range(n)])
        for i in range(n):  # the old grants, soon expiring: due
            old = callback_grant(f"u{i}", "old", expires_in=60)
            node(
                {"op": "save", "userId": f"u{i}", "platform": "discord", "grant": old}, key, app_db
            )
        provider.hold(True)
        run = tokensync(["refresh-tokens", "--concurrency", str(n)], env)
        try:
            provider.wait_in_flight(n)
            for i in range(n):  # the users connect again meanwhile
                new = callback_grant(f"u{i}", "new")
                saved = node(
                    {"op": "save", "userId": f"u{i}", "platform": "discord", "grant": new},
                    key,
                    app_db,
                )
                assert saved["grantGeneration"] == 2 and saved["created"] is False
        finally:
            provider.hold(False)
        code, document, err = finish(run)

        assert code == 0, (document, err)
        assert document["tokensSuperseded"] == n and document["tokensRefreshed"] == 0
        assert document["tokensFailed"] == 0
        for i in range(n):
            assert tokens(db_url, key, f"u{i}", "discord") == (f"AT-u{i}-new", f"NEW-RT-u{i}")
            read = node({"op": "token", "userId": f"u{i}", "platform": "discord"}, key, app_db)
            assert read["accessToken"] == f"AT-u{i}-new" and read["grantGeneration"] == 2
        assert provider.live() == {f"NEW-RT-u{i}" for i in range(n)}, "the old grants revoked"
        assert provider.stats()["reused_tokens"] == 0


def test_a_ciphertext_made_for_another_row_is_refused(
    run_cli: Cli, db_url: str, key: str, app_db: dict[str, str]
) -> None:
    for user in ("u1", "u2"):
        grant = callback_grant(user, "node")
        node({"op": "save", "userId": user, "platform": "discord", "grant": grant}, key, app_db)
    theirs = connection(db_url, "u2", "discord").access_token_enc
    run_sql(db_url, "UPDATE connections SET access_token_enc = ? WHERE user_id = 'u1'", theirs)

    refused = node({"op": "token", "userId": "u1", "platform": "discord"}, key, app_db)
    assert refused["error"]["code"] == "decrypt_failed"
    assert "another connection" in refused["error"]["message"]
    assert "AT-u2" not in json.dumps(refused)
    got = run_cli("tokens", "get", "--user", "u1", "--platform", "discord")
    assert got.code != 0 and "AT-u2" not in got.out + got.err, "tokensync refuses it too"
    assert (
        node({"op": "token", "userId": "u2", "platform": "discord"}, key, app_db)["accessToken"]
        == "AT-u2-node"
    )


def test_a_grant_saved_from_node_recovers_a_dead_connection_like_an_import(
    run_cli: Cli, db_url: str, key: str, app_db: dict[str, str]
) -> None:
    for user in ("u1", "u2"):
        grant = callback_grant(user, "old")
        node({"op": "save", "userId": user, "platform": "discord", "grant": grant}, key, app_db)
    run_sql(db_url, "UPDATE connections SET status = 'needs_reauth', lease_owner = 'run-x'")

    saved = node(
        {"op": "save", "userId": "u1", "platform": "discord", "grant": callback_grant("u1", "new")},
        key,
        app_db,
    )
    line = json.dumps(
        {
            "userId": "u2",
            "platform": "discord",
            "accessToken": "AT-u2-new",
            "refreshToken": "NEW-RT-u2",
        }
    )
    assert run_cli("tokens", "import", stdin=line).code == 0

    assert saved["grantGeneration"] == 2
    mine, imported = connection(db_url, "u1", "discord"), connection(db_url, "u2", "discord")
    for row in (mine, imported):
        assert (row.status, row.grant_generation, row.lease_owner) == ("active", 2, None)
    events = run_cli("events", "list")
    assert events.code == 0, events.out
    lines = [json.loads(text) for text in events.out.splitlines()]
    recovered = {e["data"]["userId"]: e for e in lines}
    assert set(recovered) == {"u1", "u2"}
    for user, row in (("u1", mine), ("u2", imported)):
        event = recovered[user]
        assert event["type"] == "connection.recovered"
        assert event["delivery"]["status"] == "pending"
        assert event["data"] == {
            "connectionId": row.id,
            "userId": user,
            "platform": "discord",
            "previousStatus": "needs_reauth",
        }
    # A grant without a refresh token keeps the stored one and its generation.
    kept = node(
        {"op": "save", "userId": "u1", "platform": "discord", "grant": {"access_token": "AT-3"}},
        key,
        app_db,
    )
    assert kept["grantGeneration"] == 2
    assert tokens(db_url, key, "u1", "discord") == ("AT-3", "NEW-RT-u1")


@pytest.mark.parametrize("engine", ["postgres"])
def test_the_application_role_can_do_what_the_docs_say_and_nothing_more(
    db_url: str, key: str, app_db: dict[str, str]
) -> None:
    grant = callback_grant("u1", "node")
    node({"op": "save", "userId": "u1", "platform": "discord", "grant": grant}, key, app_db)
    with psycopg.connect(app_db["pg"], autocommit=True) as app:
        documented = app.execute(
            "SELECT id, user_id, platform, status, access_token_enc, token_type, scope, "
            "expires_at, grant_generation FROM connections"
        ).fetchall()
        assert len(documented) == 1
        assert app.execute("SELECT tokensync_request_refresh('u1', 'discord')").fetchone() == (
            "requested",
        )
        assert app.execute("SELECT tokensync_request_refresh('u9', 'discord')").fetchone() == (
            "not_found",
        )
        refused = [
            "SELECT refresh_token_enc FROM connections",
            "SELECT * FROM connections",
            "SELECT lease_owner FROM connections",
            "UPDATE connections SET status = 'active'",
            "DELETE FROM connections",
            "INSERT INTO connections (user_id, platform, access_token_enc, tokens_updated_at, "
            "created_at, updated_at) VALUES ('x', 'discord', 'x', now(), now(), now())",
            "SELECT * FROM events",
            "DELETE FROM events",
            "SELECT * FROM user_platform_data",
            "SELECT * FROM sync_state",
            "SELECT tokensync_grant_app_role('public')",
        ]
        for sql in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)
        # The functions' search path is tokensync's schema: a temporary table of the caller's
        # named connections is not what they write.
        app.execute("CREATE TEMP TABLE connections (user_id TEXT, platform TEXT)")
        app.execute(
            "SELECT * FROM tokensync_save_grant('u2', 'discord', %s, NULL, NULL)",
            (connection(db_url, "u1", "discord").access_token_enc,),
        )
        assert app.execute("SELECT count(*) FROM connections").fetchone() == (0,)
    assert query_value(db_url, "SELECT count(*) FROM connections") == 2

    # A role the operator did not grant cannot call them (PUBLIC may not execute them).
    role = f"tsother_{os.getpid()}_{next(_roles)}"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
    try:
        with psycopg.connect(as_role(db_url, role), autocommit=True) as other:
            for sql in (
                "SELECT tokensync_request_refresh('u1', 'discord')",
                "SELECT * FROM tokensync_save_grant('u1', 'discord', 'gAAAAAx', NULL, NULL)",
                "SELECT user_id FROM connections",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    other.execute(sql)
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{role}"')


@pytest.mark.parametrize("engine", ["postgres"])
def test_the_save_function_refuses_what_an_import_refuses(
    db_url: str, app_db: dict[str, str]
) -> None:
    with psycopg.connect(app_db["pg"], autocommit=True) as app:
        for args in (
            ("", "discord", "gAAAAAxx"),
            ("u\n1", "discord", "gAAAAAxx"),
            ("u1", "Not A Platform", "gAAAAAxx"),
            ("u1", "discord", "AT-plaintext"),
        ):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                app.execute("SELECT * FROM tokensync_save_grant(%s, %s, %s, NULL, NULL)", args)
    assert query_value(db_url, "SELECT count(*) FROM connections") == 0


@pytest.mark.parametrize("engine", ["postgres"])
def test_two_saves_of_a_new_connection_at_once_make_one_row_and_two_grants(
    db_url: str, key: str, app_db: dict[str, str]
) -> None:
    """The second insert waits for the first to commit, finds the row, and replaces its grant."""
    sealed = connection_ciphertexts(db_url, key, app_db)
    save = "SELECT * FROM tokensync_save_grant('u9', 'discord', %s, %s, NULL)"
    with psycopg.connect(app_db["pg"]) as first, psycopg.connect(app_db["pg"]) as second:
        made = first.execute(save, sealed).fetchone()  # its transaction stays open
        outcome: list[object] = []
        waiting = threading.Thread(
            target=lambda: outcome.append(second.execute(save, sealed).fetchone())
        )
        waiting.start()
        wait_for(lambda: lock_waits(db_url) == 1, "the second save waiting on the first's row")
        assert not outcome
        first.commit()
        waiting.join(timeout=60)
        second.commit()
    assert made is not None and made[1:] == (1, True)
    assert outcome == [(made[0], 2, False)]
    assert query_value(db_url, "SELECT count(*) FROM connections WHERE user_id = 'u9'") == 1


def lock_waits(db_url: str) -> object:
    return query_value(
        db_url,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )


def connection_ciphertexts(db_url: str, key: str, app_db: dict[str, str]) -> tuple[str, str]:
    """Ciphertexts saved from Node (for u1: whose row they were made for does not matter here)."""
    grant = callback_grant("u1", "node")
    node({"op": "save", "userId": "u1", "platform": "discord", "grant": grant}, key, app_db)
    row = connection(db_url, "u1", "discord")
    assert row.refresh_token_enc is not None
    return row.access_token_enc, row.refresh_token_enc


def test_a_grant_saved_from_node_ends_by_the_platforms_rule_as_in_python(
    db_url: str, key: str, app_db: dict[str, str]
) -> None:
    authorized = datetime(2026, 8, 31, 10, 0, 0, 123000, tzinfo=UTC)
    grant = callback_grant("u1", "node")
    step = {"op": "save", "userId": "u1", "platform": "spotify", "grant": grant}
    node({**step, "now": authorized.isoformat()}, key, app_db)
    row = connection(db_url, "u1", "spotify")
    assert row.refresh_token_expires_at == PLATFORMS["spotify"].grant_end(authorized)
    assert row.expires_at == authorized + timedelta(seconds=3600)
    # The Node package knows the rules the catalog has.
    shown = subprocess.run(
        [
            str(NODE),
            "--input-type=module",
            "-e",
            "import {GRANT_LIFETIME_MONTHS as m} from './index.js'; console.log(JSON.stringify(m))",
        ],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        check=True,
    )
    rules = {p.name: p.grant_lifetime_months for p in PLATFORMS.values() if p.grant_lifetime_months}
    assert json.loads(shown.stdout) == rules


def test_npm_test(db_url: str, key: str, app_db: dict[str, str]) -> None:
    """clients/node's own tests (node --test), on a database tokensync created; the change feed
    holds what clients/node/test/changes.test.js reads: guilds 1 and 2 polled, then 2 gone."""
    store = open_store(db_url)
    for generation, guilds in ((1, ["1", "2"]), (2, ["1"])):
        batch = BatchWrite(
            [StoredItem(g, {"id": g}) for g in guilds],
            SyncCursor(cursor=None, generation=generation),
            sweep="absent_from_snapshot",
            walking_from=generation - 1,
        )
        store.save_batch("npm", "discord", "user_guilds", batch, datetime.now(UTC))
    store.close()
    done = subprocess.run(
        ["npm", "test"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "TOKENSYNC_ENCRYPTION_KEYS": key,
            "TOKENSYNC_TEST_DATABASE": json.dumps(app_db),
        },
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# skipped 0" in done.stdout, done.stdout[-2000:]

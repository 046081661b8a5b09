"""`users erase`: every connection revoked and deleted, then nothing of the user anywhere: no table,
no spool file. A second erase prints zeros; a user connecting again starts afresh."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import respx

from tests.cli.test_disconnect import DISCORD_REVOKE, GITHUB_GRANT, GOOGLE_REVOKE, with_data
from tests.support.support import Cli, connection, seed
from tokensync.crypto import Keyring, binding
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor
from tokensync.store.spool import Spool
from tokensync.store.sqlite import sqlite_path

USER = "erase-me-4242"
OTHER = "keep-me-1717"
PLATFORMS = ("youtube", "discord", "spotify", "github")


def every_stored_text(db_url: str) -> list[str]:
    """Every row of every table the database holds, as text."""
    if db_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(db_url))) as db:
            tables = [
                t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return [repr(row) for t in tables for row in db.execute(f'SELECT * FROM "{t}"')]
    with psycopg.connect(db_url) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]
        return [str(row[0]) for t in tables for row in conn.execute(f'SELECT t::text FROM "{t}" t')]


def events_naming(db_url: str, user: str) -> list[tuple[str, str]]:
    """The (type, id) of every event that holds the user id, in order."""
    store = open_store(db_url)
    try:
        store.publish_events()
        found = store.list_events(after=0)
    finally:
        store.close()
    return [(e.type, e.event_id) for e in found if e.user_id == user or user in str(e.data)]


def assert_only_the_erased_event(db_url: str, receipt: dict[str, object]) -> None:
    """After an erase, only its user.erased event names the user, until it is delivered or dead
    (here: three days pass undelivered); then nothing does."""
    event = receipt["event"]
    assert isinstance(event, dict) and event["type"] == "user.erased"
    assert events_naming(db_url, USER) == [("user.erased", event["id"])]
    store = open_store(db_url)
    try:
        assert store.give_up_events(now=datetime.now(UTC) + timedelta(days=3, seconds=1)) == 1
    finally:
        store.close()
    assert USER not in "".join(every_stored_text(db_url))


def spool_texts(env: dict[str, str]) -> list[str]:
    spool = Path(env["TOKENSYNC_DATA_DIR"]) / "spool"
    return [p.read_text() for p in spool.iterdir()] if spool.is_dir() else []


def spool_for(db_url: str, env: dict[str, str]) -> Spool:
    store = open_store(db_url)
    try:
        return Spool(Path(env["TOKENSYNC_DATA_DIR"]) / "spool", store.database_id())
    finally:
        store.close()


def spool_tokens(db_url: str, env: dict[str, str], key: str) -> list[str]:
    """A token set a run received while the database was away (newer than the stored one), and
    a spool file a killed process left half-written; both name the user."""
    conn = connection(db_url, USER, "discord")
    ring, spool = Keyring([key]), spool_for(db_url, env)
    issued = datetime.now(UTC) + timedelta(seconds=1)
    access = ring.encrypt("AT-spooled", binding(USER, "discord", "access"))
    refresh = ring.encrypt("RT-spooled", binding(USER, "discord", "refresh"))
    path = spool.put(
        conn.id,
        USER,
        "discord",
        access_token_enc=access,
        refresh_token_enc=refresh,
        expires_at=issued + timedelta(days=7),
        issued_at=issued,
    )
    partial = path.parent / f".{path.name}.tmp"
    partial.write_text(path.read_text()[:120])
    assert f'"user_id": "{USER}"' in partial.read_text()
    return [access, refresh]


def mock_revocations(router: respx.MockRouter) -> dict[str, respx.Route]:
    return {
        "youtube": router.post(GOOGLE_REVOKE, data={"token": f"RT-youtube-{USER}"}).respond(200),
        "discord": router.post(
            DISCORD_REVOKE,
            data__contains={"token": "RT-spooled", "token_type_hint": "refresh_token"},
        ).respond(200, json={}),
        "github": router.delete(GITHUB_GRANT, json={"access_token": f"AT-github-{USER}"}).respond(
            204
        ),
    }


def test_erase_leaves_nothing_of_the_user_and_a_second_erase_prints_zeros(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, env: dict[str, str], key: str
) -> None:
    seed(cli, *((USER, p) for p in PLATFORMS), *((OTHER, p) for p in PLATFORMS), expires_in=3600)
    for platform in (*PLATFORMS, "google_calendar"):  # calendar: data kept by an old disconnect
        with_data(db_url, USER, platform)
        with_data(db_url, OTHER, platform)
    ciphertexts = [
        text
        for p in PLATFORMS
        for text in (
            connection(db_url, USER, p).access_token_enc,
            connection(db_url, USER, p).refresh_token_enc,
        )
        if text
    ]
    ciphertexts += spool_tokens(db_url, env, key)
    plaintexts = [f"{kind}-{p}-{USER}" for p in PLATFORMS for kind in ("AT", "RT")]
    plaintexts += ["AT-spooled", "RT-spooled"]
    ids = {p: connection(db_url, USER, p).id for p in PLATFORMS}

    dry = cli("users", "erase", USER, "--dry-run")
    assert dry.code == 0 and dry.json["dryRun"] is True
    assert dry.json["wouldDelete"] == {
        "connections": 4,
        "sync_state": 5,
        "user_platform_data": 15,
        "events": 0,
        "spool": 2,
    }
    assert USER in "".join(every_stored_text(db_url)), "a dry run removes nothing"

    routes = mock_revocations(mock_http)
    result = cli("-v", "users", "erase", USER)
    assert result.code == 0, result.out
    receipt = result.json
    assert receipt["success"] is True and receipt["userId"] == USER
    by_platform = {c["platform"]: c for c in receipt["connections"]}
    assert sorted(by_platform) == sorted(PLATFORMS)
    assert {p: c["connectionId"] for p, c in by_platform.items()} == ids
    assert by_platform["youtube"]["revocation"] == {"revoked": True, "endpoint": GOOGLE_REVOKE}
    assert by_platform["discord"]["revocation"] == {"revoked": True, "endpoint": DISCORD_REVOKE}
    assert by_platform["github"]["revocation"]["revoked"] is True
    assert by_platform["spotify"]["revocation"]["revoked"] is False
    assert "spotify.com/account/apps" in by_platform["spotify"]["revocation"]["reason"]
    assert receipt["deleted"] == {
        "connections": 4,
        "sync_state": 5,
        "user_platform_data": 15,
        "events": 4,  # this erase's own connection.disconnected: user.erased says it all
        "spool": 2,
    }
    assert all(route.call_count == 1 for route in routes.values())
    assert_only_the_erased_event(db_url, receipt)

    stored = "\n".join(every_stored_text(db_url))
    spooled = "\n".join(spool_texts(env))
    for secret in (USER, *ciphertexts, *plaintexts):
        assert secret not in stored, f"a table still holds {secret[:12]}"
        assert secret not in spooled, f"a spool file still holds {secret[:12]}"
        assert secret not in result.err, "nor does the log"
    assert stored.count(OTHER) >= 4 * 3 + 1, "the other user's rows stay"
    for platform in PLATFORMS:
        assert connection(db_url, OTHER, platform).status == "active"

    again = cli("users", "erase", USER)
    assert again.code == 0
    assert again.json == {
        "success": True,
        "userId": USER,
        "connections": [],
        "deleted": {
            "connections": 0,
            "sync_state": 0,
            "user_platform_data": 0,
            "events": 0,
            "spool": 0,
        },
    }

    seed(cli, (USER, "spotify"), expires_in=3600)
    fresh = connection(db_url, USER, "spotify")
    assert fresh.id not in ids.values() and fresh.status == "active"
    assert fresh.failure_count == 0 and fresh.last_sync_at is None


def test_a_failed_revocation_keeps_that_connection_and_a_second_run_finishes(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, (USER, "youtube"), (USER, "discord"), expires_in=3600)
    for platform in ("youtube", "discord", "google_calendar"):
        with_data(db_url, USER, platform)
    mock_http.post(GOOGLE_REVOKE).respond(200)
    down = mock_http.post(DISCORD_REVOKE).mock(
        side_effect=[
            httpx.Response(502, text="<html>Bad Gateway</html>"),
            httpx.Response(200, json={}),
        ]
    )

    first = cli("users", "erase", USER)
    assert first.code == 1 and first.json["success"] is False
    by_platform = {c["platform"]: c for c in first.json["connections"]}
    assert by_platform["discord"]["error"]["code"] == "transient"
    assert by_platform["youtube"]["deleted"]["connections"] == 1
    assert first.json["deleted"] == {
        "connections": 1,
        "sync_state": 1,
        "user_platform_data": 3,
        "events": 0,
        "spool": 0,
    }
    assert [t for t, _ in events_naming(db_url, USER)] == ["connection.disconnected"]
    assert connection(db_url, USER, "discord").lease_owner is None
    assert USER in "".join(every_stored_text(db_url)), "the rest waits for the next run"

    second = cli("users", "erase", USER)
    assert second.code == 0, second.out
    assert second.json["deleted"] == {
        "connections": 1,
        "sync_state": 2,
        "user_platform_data": 6,
        "events": 2,  # both connection.disconnected, the first run's too
        "spool": 0,
    }
    assert down.call_count == 2
    assert "event" not in first.json, "user.erased is written by the run that ends the erase"
    assert_only_the_erased_event(db_url, second.json)


def test_no_revoke_erases_locally_without_a_request(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, (USER, "discord"), expires_in=3600)
    result = cli("users", "erase", USER, "--no-revoke")
    assert result.code == 0, result.out
    (entry,) = result.json["connections"]
    assert (
        entry["revocation"]["revoked"] is False and "--no-revoke" in entry["revocation"]["reason"]
    )
    assert_only_the_erased_event(db_url, result.json)
    assert json.dumps(result.json).count("RT-") == 0


@pytest.mark.parametrize("engine", ["sqlite"])  # PostgreSQL's files are the server's to vacuum
def test_an_erased_users_bytes_are_gone_from_the_sqlite_files(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    """Not only unreadable by a query: no free page and no write-ahead log frame of the file
    still holds what the user's items said, even while an application keeps the file open
    (the log is then not removed when tokensync closes it)."""
    seed(cli, (USER, "github"), (OTHER, "github"), expires_in=3600)
    marker = "subject: the-erased-users-own-words-9317"
    path = sqlite_path(db_url)
    with closing(sqlite3.connect(path)) as application:
        application.execute("SELECT count(*) FROM connections").fetchone()
        store = open_store(db_url)
        try:
            for user in (USER, OTHER):
                items = [
                    StoredItem(key=f"k{i}", data={"text": f"{marker} {user}", "body": "x" * 300})
                    for i in range(300)
                ]
                batch = BatchWrite(items, SyncCursor(cursor="c1"))
                store.save_batch(user, "github", "things", batch, datetime.now(UTC))
        finally:
            store.close()
        mock_http.delete(GITHUB_GRANT).respond(204)

        result = cli("users", "erase", USER)

        assert result.code == 0, result.out
        wal = path.with_name(path.name + "-wal")
        files = b"".join(p.read_bytes() for p in (path, wal) if p.exists())
        assert files.count(f"{marker} {OTHER}".encode()) >= 300, "the other user's items stay"
        assert f"{marker} {USER}".encode() not in files

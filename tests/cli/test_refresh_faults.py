"""Faults around a refresh: the database going away after the provider answered."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import respx

from tests.support.support import TOKEN_URLS, Cli, results_by_user, seed, tokens, with_database
from tokensync.errors import StorageError
from tokensync.store import Filters, open_store
from tokensync.store.engine import RowWrite


@pytest.fixture
def take_database_away(
    engine: str, db_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[callable, callable]]:  # type: ignore[valid-type]
    """(drop, restore): make the database unreachable for tokensync, then bring it back."""
    if engine == "postgres":
        admin = request.getfixturevalue("pg_admin_url")
        name = urlsplit(db_url).path.lstrip("/")

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')

        def restore() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')

        yield drop, restore
        with psycopg.connect(with_database(admin, "postgres"), autocommit=True) as conn:
            present = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (f"{name}_away",)
            ).fetchone()
        if present:
            restore()
    else:
        from tokensync.store.sqlite import SQLiteStore

        original = SQLiteStore.write_rows

        def failing(store: SQLiteStore, writes: Sequence[RowWrite]) -> list[bool]:
            # The saves fail; the lease checks before sending still pass.
            if any(write.statement == "save_refreshed" for write in writes):
                raise StorageError("SQLite (tokensync.db): disk I/O error")
            return original(store, writes)

        yield (
            lambda: monkeypatch.setattr(SQLiteStore, "write_rows", failing),
            lambda: monkeypatch.setattr(SQLiteStore, "write_rows", original),
        )


def test_tokens_issued_while_the_database_is_away_are_spooled_then_applied(
    cli: Cli,
    mock_http: respx.MockRouter,
    take_database_away,  # type: ignore[no-untyped-def]
    db_url: str,
    key: str,
    env: dict[str, str],
) -> None:
    drop, restore = take_database_away
    seed(cli, ("u", "discord"))

    def answer_then_lose_the_database(request: httpx.Request) -> httpx.Response:
        drop()
        return httpx.Response(
            200,
            json={
                "access_token": "ISSUED-AT",
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": "ISSUED-RT",
            },
        )

    mock_http.post(TOKEN_URLS["discord"]).mock(side_effect=answer_then_lose_the_database)
    first = cli("refresh-tokens")
    assert first.code == 3, first.out
    assert first.json["error"]["code"] == "database_error"
    entry = results_by_user(first.json)["u"]
    assert entry["spooled"] is True
    spool = Path(env["TOKENSYNC_DATA_DIR"]) / "spool"
    (spooled,) = list(spool.glob("*.json"))
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    assert "ISSUED" not in spooled.read_text(), "the spool holds ciphertext only"
    for secret in ("ISSUED-AT", "ISSUED-RT", key):
        assert secret not in first.out + first.err

    restore()
    second = cli("refresh-tokens")
    assert second.code == 0, second.out
    assert second.json["spoolApplied"] == 1 and second.json["tokensChecked"] == 0
    assert tokens(db_url, key, "u", "discord") == ("ISSUED-AT", "ISSUED-RT")
    assert list(spool.glob("*.json")) == []


def test_a_row_that_cannot_be_decrypted_is_recorded_backed_off_and_shown(
    cli: Cli, db_url: str, mock_http: respx.MockRouter
) -> None:
    seed(cli, ("u1", "discord"), ("u2", "discord"))
    store = open_store(db_url)
    try:
        (broken,) = store.iter_connections(Filters(users=("u1",)))
        with store.transaction():
            store._run(
                "replace_ciphertexts",
                {
                    "id": broken.id,
                    "old_access": broken.access_token_enc,
                    "old_refresh": broken.refresh_token_enc,
                    "new_access": broken.access_token_enc,
                    "new_refresh": "gAAAAAB-not-a-fernet-token",
                },
            )
    finally:
        store.close()
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200, json={"access_token": "AT-new", "refresh_token": "RT-new", "expires_in": 604800}
    )

    first = cli("refresh-tokens")
    assert first.code == 1, first.out
    by_user = results_by_user(first.json)
    assert by_user["u1"]["error"]["code"] == "decrypt_failed"
    assert by_user["u1"]["nextAttemptAt"] is not None, "backed off, not retried every run"
    assert by_user["u2"]["success"] is True

    again = cli("refresh-tokens").json
    assert again["tokensChecked"] == 0, "the back-off holds"
    status = cli("status").json
    assert status["failing"]["count"] == 1
    (shown,) = status["failing"]["connections"]
    assert (shown["userId"], shown["error"]["code"], shown["failures"]) == (
        "u1",
        "decrypt_failed",
        1,
    )
    assert "gAAAAAB" not in json.dumps(status)


@pytest.mark.parametrize(
    "expires_in", ["-5", '"abc"', "1e12", '"inf"', '"nan"', "1e400", "true"], ids=str
)
def test_a_rotated_token_is_stored_whatever_its_expires_in(
    cli: Cli, db_url: str, key: str, mock_http: respx.MockRouter, expires_in: str
) -> None:
    seed(cli, ("u1", "discord"))
    body = '{"access_token": "AT-new", "refresh_token": "RT-new", "token_type": "Bearer", '
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200,
        content=(body + f'"expires_in": {expires_in}}}').encode(),
        headers={"Content-Type": "application/json"},
    )
    result = cli("refresh-tokens")
    assert result.code == 0, result.out
    (entry,) = result.json["results"]
    assert entry["success"] is True and entry["rotated"] is True
    assert "expires_in" in entry["warning"] and entry["newExpiry"] is not None
    assert tokens(db_url, key, "u1", "discord") == ("AT-new", "RT-new")


def test_a_spool_that_cannot_be_written_is_said_not_crashed(
    cli: Cli,
    mock_http: respx.MockRouter,
    take_database_away,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    key: str,
) -> None:
    """The database goes away after the provider issued a token, and the spool's directory cannot
    be written either (a read-only filesystem; with PostgreSQL nothing else needs it): the run
    ends with its document, exit 3, and the row says the issued tokens could not be kept."""
    drop, _ = take_database_away
    seed(cli, ("u", "discord"))
    unwritable = tmp_path / "read-only"
    unwritable.mkdir()
    (unwritable / "spool").write_text("a file where the spool's directory should be")

    def answer_then_lose_the_database(request: httpx.Request) -> httpx.Response:
        drop()
        issued = {"access_token": "ISSUED-AT", "expires_in": 604800, "refresh_token": "ISSUED-RT"}
        return httpx.Response(200, json=issued)

    mock_http.post(TOKEN_URLS["discord"]).mock(side_effect=answer_then_lose_the_database)
    run = cli("refresh-tokens", extra_env={"TOKENSYNC_DATA_DIR": str(unwritable)})
    assert run.code == 3, run.out
    assert run.json["error"]["code"] == "database_error" and "Traceback" not in run.err
    entry = results_by_user(run.json)["u"]
    assert entry["success"] is False and entry["error"]["code"] == "spool_unwritable"
    assert str(unwritable / "spool") in entry["error"]["message"]
    for secret in ("ISSUED-AT", "ISSUED-RT", key):
        assert secret not in run.out + run.err

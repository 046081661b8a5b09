"""The newest grant the application wrote always wins, against the strict rotating provider.

A user connects again (the application writes a new grant with `tokens import` or `save_grant`)
while a refresh of the old grant is in flight: the provider holds every token request until the
new grants are written, then answers. Whatever refreshed the old grant (refresh-tokens,
poll-platforms refreshing before it polls, `tokens get`, a spooled token set applied later), the
row ends holding the new grant, the old grant's freshly rotated refresh token is revoked at the
provider (nothing but the new grants is alive there), the document says `superseded`, and no
refresh token is ever presented twice. Real processes, both engines.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ProviderProcess, finish, running_provider, tokensync
from tests.support.provider import CLIENT_ID, CLIENT_SECRET
from tests.support.support import CliResult, connection, expire_all, tokens
from tokensync.client import open_client
from tokensync.crypto import Keyring, binding
from tokensync.store import open_store
from tokensync.store.spool import Spool

N = 20


def grants(kind: str, n: int = N, *, expires_in: int = 60) -> str:
    """Import lines of users u0.. holding the `kind` (old, new) grants. Access tokens have the
    shape the stand-in's APIs accept for user i."""
    return "\n".join(
        json.dumps(
            {
                "userId": f"u{i}",
                "platform": "discord",
                "accessToken": f"bench-at-{i}-{kind}",
                "refreshToken": f"{kind.upper()}-RT-{i}",
                "expiresIn": expires_in,
            }
        )
        for i in range(n)
    )


def setup(
    provider: ProviderProcess, run_cli, env: dict[str, str], tmp_path: Path, n: int = N
) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The old grants stored (and registered at the provider), due; the new ones registered
    at the provider only (the user has just consented again)."""
    config = provider.config(tmp_path / "tokensync.toml", batch_size=n, revocation=True)
    env = {**env, "TOKENSYNC_CONFIG": str(config)}
    provider.add_grants([f"OLD-RT-{i}" for i in range(n)])
    provider.add_grants([f"NEW-RT-{i}" for i in range(n)])
    imported: CliResult = run_cli("tokens", "import", stdin=grants("old", n), extra_env=env)
    assert imported.code == 0, imported.out
    return env


def assert_new_grants_win(
    provider: ProviderProcess, db_url: str, key: str, n: int = N, *, refreshed: bool = False
) -> None:
    """Each row holds its new grant (as written, or `refreshed` from it); nothing but the new
    grants is alive at the provider, and no token was presented twice."""
    live = provider.live()
    for i in range(n):
        access, refresh = tokens(db_url, key, f"u{i}", "discord")
        if refreshed:
            assert refresh in live and refresh != f"NEW-RT-{i}"
        else:
            assert (access, refresh) == (f"bench-at-{i}-new", f"NEW-RT-{i}")
        assert connection(db_url, f"u{i}", "discord").status == "active"
    stored = {tokens(db_url, key, f"u{i}", "discord")[1] for i in range(n)}
    assert live == stored, "the old grants' rotated tokens were revoked, and nothing was lost"
    stats = provider.stats()
    assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0


def superseded_entries(document: dict[str, object]) -> list[dict[str, object]]:
    results = document["results"]
    assert isinstance(results, list)
    return [r["superseded"] for r in results if "superseded" in r]


@pytest.mark.parametrize("writer", ["tokens import", "save_grant"])
def test_a_new_grant_written_during_the_old_grants_refresh_wins(
    writer: str,
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    with running_provider("--delay", "0") as provider:
        env = setup(provider, run_cli, env, tmp_path)
        provider.hold(True)
        run = tokensync(["refresh-tokens", "--concurrency", str(N)], env)
        try:
            provider.wait_in_flight(N)
            if writer == "tokens import":
                written = run_cli("tokens", "import", stdin=grants("new", expires_in=3600))
                assert written.code == 0, written.out
            else:
                for name, value in env.items():
                    monkeypatch.setenv(name, value)
                with open_client() as client:
                    for i in range(N):
                        counts = client.save_grant(
                            f"u{i}",
                            "discord",
                            {
                                "access_token": f"bench-at-{i}-new",
                                "refresh_token": f"NEW-RT-{i}",
                                "expires_in": 3600,
                                "token_type": "Bearer",
                            },
                        )
                        assert counts.updated == 1
        finally:
            provider.hold(False)
        code, document, err = finish(run)

        assert code == 0, (document, err)
        assert document["success"] is True
        assert document["tokensSuperseded"] == N and document["tokensFailed"] == 0
        assert document["tokensRefreshed"] == 0
        # save_grant revokes each old grant once the new one is stored (refresh/old_grants.py):
        # the refreshes of the old grants then find them ended.
        ended = {"revoked": True, "alreadyInvalid": True} if writer == "save_grant" else None
        assert superseded_entries(document) == [ended or {"revoked": True}] * N
        assert provider.stats()["revocations"] == N
        assert_new_grants_win(provider, db_url, key)
        assert "connection.needs_reauth" not in json.dumps(document)

        # The new grants are the ones refreshed from now on.
        expire_all(db_url)
        again = run_cli("refresh-tokens", extra_env=env)
        assert again.code == 0 and again.json["tokensRefreshed"] == N, again.out
        assert_new_grants_win(provider, db_url, key, refreshed=True)


def test_a_poll_refreshing_the_old_grant_polls_with_the_new_one(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,  # type: ignore[no-untyped-def]
) -> None:
    n = 5
    with running_provider("--delay", "0") as provider:
        env = setup(provider, run_cli, env, tmp_path, n)
        expire_all(db_url, seconds=30)  # inside a poll's minute of margin: refreshed first
        provider.hold(True)
        run = tokensync(["poll-platforms", "--platform", "discord", "--concurrency", "5"], env)
        try:
            provider.wait_in_flight(n)
            written = run_cli("tokens", "import", stdin=grants("new", n, expires_in=3600))
            assert written.code == 0, written.out
        finally:
            provider.hold(False)
        code, document, err = finish(run)

        assert code == 0, (document, err)
        assert document["tokensSuperseded"] == n and document["pollsSuccessful"] == n
        assert superseded_entries(document) == [{"revoked": True}] * n
        assert_new_grants_win(provider, db_url, key, n)


def test_tokens_get_refreshing_the_old_grant_answers_with_the_new_one(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,  # type: ignore[no-untyped-def]
) -> None:
    with running_provider("--delay", "0") as provider:
        env = setup(provider, run_cli, env, tmp_path, 1)
        provider.hold(True)
        get = tokensync(["tokens", "get", "--user", "u0", "--platform", "discord"], env)
        try:
            provider.wait_in_flight(1)
            written = run_cli("tokens", "import", stdin=grants("new", 1, expires_in=3600))
            assert written.code == 0, written.out
        finally:
            provider.hold(False)
        code, document, err = finish(get)

        assert code == 0, (document, err)
        assert document["accessToken"] == "bench-at-0-new", "the new grant's token"
        assert document["superseded"] == {"revoked": True}
        assert_new_grants_win(provider, db_url, key, 1)


def test_a_spooled_token_set_of_the_old_grant_is_revoked_not_stored(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,  # type: ignore[no-untyped-def]
) -> None:
    n = 3
    with running_provider("--delay", "0") as provider:
        env = setup(provider, run_cli, env, tmp_path, n)
        # A run refreshed the old grants and could not store what it was issued: it spooled it,
        # as refresh-tokens does when the database goes away, under the grant it refreshed.
        ring = Keyring([key])
        store = open_store(db_url)
        try:
            spool = Spool(Path(env["TOKENSYNC_DATA_DIR"]) / "spool", store.database_id())
            for i in range(n):
                issued = httpx.post(
                    f"{provider.url}/token",
                    data={"grant_type": "refresh_token", "refresh_token": f"OLD-RT-{i}"},
                    auth=(CLIENT_ID, CLIENT_SECRET),
                    timeout=30,
                ).json()
                conn = connection(db_url, f"u{i}", "discord")
                spool.put(
                    conn.id,
                    f"u{i}",
                    "discord",
                    access_token_enc=ring.encrypt(
                        issued["access_token"], binding(f"u{i}", "discord", "access")
                    ),
                    refresh_token_enc=ring.encrypt(
                        issued["refresh_token"], binding(f"u{i}", "discord", "refresh")
                    ),
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                    issued_at=datetime.now(UTC),
                    grant_generation=conn.grant_generation,
                )
        finally:
            store.close()
        # The user connected again before the spool was applied.
        written = run_cli("tokens", "import", stdin=grants("new", n, expires_in=3600))
        assert written.code == 0, written.out

        applied = run_cli("refresh-tokens", extra_env=env)

        assert applied.code == 0, applied.out
        assert applied.json["spoolSuperseded"] == n and "spoolApplied" not in applied.json
        assert not list((Path(env["TOKENSYNC_DATA_DIR"]) / "spool").glob("*.json"))
        assert provider.stats()["revocations"] == n
        assert_new_grants_win(provider, db_url, key, n)


def test_the_same_grant_written_again_keeps_the_refresh_in_flight(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,  # type: ignore[no-untyped-def]
) -> None:
    """An application that saves the very grant it saved before (the same refresh token) writes
    no new grant: the refresh in flight rotated that token, and its successor is stored."""
    n = 3
    with running_provider("--delay", "0") as provider:
        env = setup(provider, run_cli, env, tmp_path, n)
        provider.hold(True)
        run = tokensync(["refresh-tokens", "--concurrency", str(n)], env)
        try:
            provider.wait_in_flight(n)
            written = run_cli("tokens", "import", stdin=grants("old", n, expires_in=3600))
            assert written.code == 0, written.out
        finally:
            provider.hold(False)
        code, document, err = finish(run)

        assert code == 0, (document, err)
        assert document["tokensRefreshed"] == n and document["tokensSuperseded"] == 0
        stored = {tokens(db_url, key, f"u{i}", "discord")[1] for i in range(n)}
        assert not stored & {f"OLD-RT-{i}" for i in range(n)}, "the rotated tokens are stored"
        # Alive: what is stored, and the new grants the test registered but never wrote.
        assert provider.live() == stored | {f"NEW-RT-{i}" for i in range(n)}
        assert provider.stats()["reused_tokens"] == 0

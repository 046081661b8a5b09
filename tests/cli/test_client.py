"""The Python API (tokensync.client), synchronous and async, on both engines: the same code paths
as the commands, so these tests check what is particular to it (settings from the environment,
several operations at once in one client, cancellation, typed errors)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from tests.cli.test_disconnect import DISCORD_REVOKE, rows, with_data
from tests.support.support import CLIENT_ENV, TOKEN_URLS, Cli, connection, seed, tokens
from tokensync.client import AsyncTokenClient, open_async_client, open_client
from tokensync.errors import ConnectionNotFoundError, ImportFormatError, PermanentError
from tokensync.settings import load_settings


@pytest.fixture
def environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment an application would run with: the CLI's variables."""
    for name, value in {**env, **CLIENT_ENV}.items():
        monkeypatch.setenv(name, value)
    return env


def test_save_get_disconnect_erase_with_the_clis_settings(
    environment: dict[str, str], mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    callback = {  # Discord's token response, as an OAuth callback receives it
        "access_token": "AT-cb",
        "token_type": "Bearer",
        "expires_in": "604800",
        "refresh_token": "RT-cb",
        "scope": "identify guilds",
        "id_token": "not tokensync's to keep",
    }
    before = datetime.now(UTC)
    with open_client() as client:
        saved = client.save_grant("u1", "discord", callback)
        assert (saved.inserted, saved.updated) == (1, 0)
        token = client.get_token("u1", "discord")
        assert (token.access_token, token.scope, token.refreshed) == (
            "AT-cb",
            "identify guilds",
            False,
        )
        assert token.expires_at is not None and token.expires_at >= before + timedelta(days=7)
        assert "AT-cb" not in repr(token), "the token stays out of reprs, logs and tracebacks"

        with pytest.raises(ConnectionNotFoundError) as missing:
            client.get_token("nobody", "discord")
        assert missing.value.code == "not_found"
        with pytest.raises(ImportFormatError, match="no access_token"):
            client.save_grant("u2", "discord", {"refresh_token": "RT-x"})

        with_data(db_url, "u1", "discord")
        mock_http.post(DISCORD_REVOKE, data__contains={"token": "RT-cb"}).respond(200, json={})
        done = client.disconnect("u1", "discord")
        assert done.revocation.revoked and done.deleted["user_platform_data"] == 3
        assert rows(db_url, "u1", "discord") == (0, 0, 0)

        client.save_grant("u1", "spotify", {"access_token": "AT-s", "expires_in": 3600})
        receipt = client.erase_user("u1")
        assert receipt.success and receipt.deleted["connections"] == 1
        again = client.erase_user("u1")
        assert again.deleted == {
            "connections": 0,
            "sync_state": 0,
            "user_platform_data": 0,
            "events": 0,  # the first erase's user.erased stays until it is delivered or dead
            "spool": 0,
        }
        assert again.event_id is None and receipt.event_id is not None


def test_a_grants_end_is_kept_and_renewed_by_refreshes(
    environment: dict[str, str], mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    grant = {
        "access_token": "ghu_1",
        "expires_in": 60,
        "refresh_token": "ghr_1",
        "refresh_token_expires_in": 15897600,
        "token_type": "bearer",
        "scope": "",
    }
    mock_http.post(TOKEN_URLS["github"], data__contains={"refresh_token": "ghr_1"}).respond(
        200, json={**grant, "access_token": "ghu_2", "refresh_token": "ghr_2", "expires_in": 28800}
    )
    with open_client() as client:
        client.save_grant("u1", "github", grant)
        first = connection(db_url, "u1", "github").refresh_token_expires_at
        token = client.get_token("u1", "github")
    assert (token.access_token, token.refreshed) == ("ghu_2", True)
    assert tokens(db_url, key, "u1", "github") == ("ghu_2", "ghr_2")
    renewed = connection(db_url, "u1", "github").refresh_token_expires_at
    assert first is not None and renewed is not None and renewed > first


def test_calls_at_once_in_one_async_client_share_one_refresh(
    environment: dict[str, str], cli: Cli, db_url: str
) -> None:
    """Each operation takes the lease as an owner of its own: two at once on one connection
    never pass for one holder, so one refreshes and the others wait for its token."""
    seed(cli, ("u1", "discord"), expires_in=30)
    sent: list[str] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        sent.append(parse_qs(request.content.decode())["refresh_token"][0])
        await asyncio.sleep(0.3)  # long enough for the other callers to find the lease held
        body = {"access_token": "AT-new", "refresh_token": "RT-new", "expires_in": 604800}
        return httpx.Response(200, json=body)

    async def main() -> list[str]:
        settings = load_settings()
        async with AsyncTokenClient(settings, transport=httpx.MockTransport(provider)) as client:
            got = await asyncio.gather(*(client.get_token("u1", "discord") for _ in range(5)))
        assert sum(t.refreshed for t in got) == 1
        return [t.access_token for t in got]

    assert asyncio.run(main()) == ["AT-new"] * 5
    assert sent == ["RT-discord-u1"], "one refresh, never a second use"


def test_a_refresh_under_way_is_stored_even_if_its_caller_gives_up(
    environment: dict[str, str], cli: Cli, db_url: str, key: str
) -> None:
    seed(cli, ("u1", "discord"), expires_in=30)
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def provider(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await answer.wait()
        body = {"access_token": "AT-late", "refresh_token": "RT-late", "expires_in": 604800}
        return httpx.Response(200, json=body)

    async def main() -> None:
        client = AsyncTokenClient(load_settings(), transport=httpx.MockTransport(provider))
        await client.open()
        caller = asyncio.ensure_future(client.get_token("u1", "discord"))
        await arrived.wait()
        caller.cancel()  # a web request timing out, say, while the provider holds the answer
        with pytest.raises(asyncio.CancelledError):
            await caller
        answer.set()
        await client.aclose()  # waits for what is under way

    asyncio.run(main())
    assert tokens(db_url, key, "u1", "discord") == ("AT-late", "RT-late")
    assert connection(db_url, "u1", "discord").lease_owner is None


def test_async_client_from_the_environment_and_its_errors(
    environment: dict[str, str], cli: Cli, mock_http: respx.MockRouter
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=30)
    mock_http.post(TOKEN_URLS["spotify"]).respond(
        400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
    )

    async def main() -> None:
        async with open_async_client() as client:
            with pytest.raises(PermanentError) as dead:
                await client.get_token("u1", "spotify")
            assert dead.value.code == "needs_reauth"
            assert "RT-spotify-u1" not in str(dead.value)
            with pytest.raises(RuntimeError, match="not open"):
                await AsyncTokenClient(load_settings()).get_token("u1", "spotify")

    asyncio.run(main())
    assert json.loads(cli("tokens", "list").out)[0]["status"] == "needs_reauth"

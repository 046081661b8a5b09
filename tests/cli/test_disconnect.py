"""`tokens disconnect`: each platform's revocation request exactly as the platform documents it
(PLATFORMS.md, Revocation), then the local deletion; a failing revocation deletes nothing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx

from tests.support.support import CLIENT_ENV, TOKEN_URLS, Cli, connection, seed, stored_items
from tokensync.store import Filters, open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor

GOOGLE_REVOKE = "https://oauth2.googleapis.com/revoke"
DISCORD_REVOKE = "https://discord.com/api/oauth2/token/revoke"
GITHUB_GRANT = "https://api.github.com/applications/github-client-id-value/grant"
# As a receipt shows it: no credential is printed, not even the client id.
GITHUB_SHOWN = "https://api.github.com/applications/{client_id}/grant"
ACME_TOKEN = "https://id.acme.example/oauth/token"
ACME_REVOKE = "https://id.acme.example/oauth/revoke"
ACME_ENV = {"TOKENSYNC_ACME_CLIENT_ID": "acme-id", "TOKENSYNC_ACME_CLIENT_SECRET": "acme-secret"}


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    """Two platforms of our own: one with an RFC 7009 endpoint (Basic auth), one without."""
    config = tmp_path / "platforms.toml"
    config.write_text(
        f'[platforms.acme]\ntoken_url = "{ACME_TOKEN}"\nrevocation_url = "{ACME_REVOKE}"\n'
        'auth_method = "client_secret_basic"\n'
        f'[platforms.plain]\ntoken_url = "{ACME_TOKEN}"\n'
    )
    return config


@pytest.fixture
def cli_env(cli: Cli) -> Cli:
    """cli with the custom platforms' credentials too."""

    def run(*args: str, stdin: str = "") -> object:
        return cli(*args, stdin=stdin, extra_env=ACME_ENV)

    return run  # type: ignore[return-value]


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def with_data(db_url: str, user: str, platform: str, items: int = 3) -> None:
    """Polled items and a cursor for the connection, as a poll would have stored them."""
    store = open_store(db_url)
    try:
        store.save_batch(
            user,
            platform,
            "things",
            BatchWrite(
                [StoredItem(key=f"k{i}", data={"n": i}) for i in range(items)],
                SyncCursor(cursor="c1"),
            ),
            datetime.now(UTC),
        )
    finally:
        store.close()


def rows(db_url: str, user: str, platform: str) -> tuple[int, int, int]:
    """(connections, sync_state rows, live items) of a user's platform (a disconnect leaves its
    items tombstones: tests/cli/test_disconnect_feed.py)."""
    store = open_store(db_url)
    try:
        counts = store.count_user_rows(user, [platform], live_items=True)
    finally:
        store.close()
    return counts["connections"], counts["sync_state"], counts["user_platform_data"]


def disconnect(cli: Cli, user: str, platform: str, *flags: str):  # type: ignore[no-untyped-def]
    result = cli("tokens", "disconnect", "--user", user, "--platform", platform, *flags)
    for secret in (*CLIENT_ENV.values(), f"AT-{platform}-{user}", f"RT-{platform}-{user}"):
        assert secret not in result.out + result.err
    return result


def test_google_posts_the_refresh_token_to_revoke_then_deletes(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "youtube"), ("u2", "youtube"), expires_in=3600)
    with_data(db_url, "u1", "youtube")
    with_data(db_url, "u2", "youtube")
    route = mock_http.post(GOOGLE_REVOKE, data={"token": "RT-youtube-u1"}).respond(200)
    conn_id = connection(db_url, "u1", "youtube").id

    result = disconnect(cli, "u1", "youtube")

    assert result.code == 0, result.out
    assert result.json == {
        "success": True,
        "userId": "u1",
        "platform": "youtube",
        "connectionId": conn_id,
        "revocation": {"revoked": True, "endpoint": GOOGLE_REVOKE},
        "deleted": {"connections": 1, "sync_state": 1, "user_platform_data": 3},
    }
    (call,) = route.calls
    assert call.request.method == "POST" and "authorization" not in call.request.headers
    assert call.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert rows(db_url, "u1", "youtube") == (0, 0, 0)
    assert rows(db_url, "u2", "youtube") == (1, 1, 3), "another user's rows stay"


def test_google_already_invalid_counts_as_revoked(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "google_gmail"), expires_in=3600)
    mock_http.post(GOOGLE_REVOKE, data={"token": "RT-google_gmail-u1"}).respond(
        400, json={"error": "invalid_token", "error_description": "Token expired or revoked"}
    )
    result = disconnect(cli, "u1", "google_gmail")
    assert result.code == 0, result.out
    assert result.json["revocation"] == {
        "revoked": True,
        "endpoint": GOOGLE_REVOKE,
        "alreadyInvalid": True,
    }
    assert rows(db_url, "u1", "google_gmail") == (0, 0, 0)


def test_discord_is_rfc_7009_with_the_client_authenticated_as_for_refresh(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "discord"), expires_in=3600)
    route = mock_http.post(
        DISCORD_REVOKE,
        data={
            "token": "RT-discord-u1",
            "token_type_hint": "refresh_token",
            "client_id": "discord-client-id-value",
            "client_secret": "discord-client-secret-value",
        },
    ).respond(200, json={})
    result = disconnect(cli, "u1", "discord")
    assert result.code == 0, result.out
    assert result.json["revocation"] == {"revoked": True, "endpoint": DISCORD_REVOKE}
    assert route.call_count == 1 and rows(db_url, "u1", "discord") == (0, 0, 0)


def test_github_deletes_the_grant_with_basic_auth_and_the_access_token(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "github"), expires_in=3600)
    route = mock_http.delete(
        GITHUB_GRANT,
        json={"access_token": "AT-github-u1"},
        headers={
            "Authorization": basic("github-client-id-value", "github-client-secret-value"),
            "Accept": "application/vnd.github+json",
        },
    ).respond(204)
    result = disconnect(cli, "u1", "github")
    assert result.code == 0, result.out
    assert result.json["revocation"] == {"revoked": True, "endpoint": GITHUB_SHOWN}
    assert route.call_count == 1 and rows(db_url, "u1", "github") == (0, 0, 0)


def test_github_refreshes_an_expired_access_token_first(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "github"), expires_in=30)
    order: list[str] = []
    refresh = mock_http.post(
        TOKEN_URLS["github"], data__contains={"refresh_token": "RT-github-u1"}
    ).mock(
        side_effect=lambda request: (
            order.append("refresh")
            or httpx.Response(
                200,
                json={
                    "access_token": "ghu_NEW",
                    "expires_in": 28800,
                    "refresh_token": "ghr_NEW",
                    "refresh_token_expires_in": 15897600,
                    "token_type": "bearer",
                    "scope": "",
                },
            )
        )
    )
    grant = mock_http.delete(GITHUB_GRANT, json={"access_token": "ghu_NEW"}).mock(
        side_effect=lambda request: order.append("revoke") or httpx.Response(204)
    )
    result = disconnect(cli, "u1", "github")
    assert result.code == 0, result.out
    assert order == ["refresh", "revoke"] and refresh.call_count == grant.call_count == 1
    assert "ghu_NEW" not in result.out + result.err
    assert rows(db_url, "u1", "github") == (0, 0, 0)


def test_github_not_knowing_the_token_counts_as_revoked(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "github"), expires_in=3600)
    mock_http.delete(GITHUB_GRANT).respond(
        404, json={"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
    )
    result = disconnect(cli, "u1", "github")
    assert result.code == 0, result.out
    assert result.json["revocation"]["alreadyInvalid"] is True
    assert rows(db_url, "u1", "github") == (0, 0, 0)


def test_spotify_has_no_revocation_and_the_local_deletion_goes_on(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), expires_in=3600)
    result = disconnect(cli, "u1", "spotify")
    assert result.code == 0, result.out
    revocation = result.json["revocation"]
    assert revocation["revoked"] is False and "spotify.com/account/apps" in revocation["reason"]
    assert rows(db_url, "u1", "spotify") == (0, 0, 0)


def test_a_custom_platform_revokes_at_its_revocation_url(
    cli_env: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli_env, ("u1", "acme"), ("u1", "plain"), expires_in=3600)
    route = mock_http.post(
        ACME_REVOKE,
        data={"token": "RT-acme-u1", "token_type_hint": "refresh_token"},
        headers={"Authorization": basic("acme-id", "acme-secret")},
    ).respond(200)
    result = disconnect(cli_env, "u1", "acme")
    assert result.code == 0, result.out
    assert result.json["revocation"] == {"revoked": True, "endpoint": ACME_REVOKE}
    assert route.call_count == 1

    plain = disconnect(cli_env, "u1", "plain")
    assert plain.code == 0, plain.out
    assert plain.json["revocation"] == {
        "revoked": False,
        "reason": "no revocation_url is configured in [platforms.plain]",
    }
    assert rows(db_url, "u1", "acme") == rows(db_url, "u1", "plain") == (0, 0, 0)


@pytest.mark.parametrize(
    ("platform", "url", "failure", "code"),
    [
        (
            "youtube",
            GOOGLE_REVOKE,
            httpx.Response(503, text="<html>unavailable</html>"),
            "transient",
        ),
        ("discord", DISCORD_REVOKE, httpx.ReadTimeout("timed out"), "timeout"),
        (
            "discord",
            DISCORD_REVOKE,
            httpx.Response(401, json={"error": "invalid_client"}),
            "invalid_client",
        ),
    ],
)
def test_a_failing_revocation_deletes_nothing(
    cli: Cli,
    mock_http: respx.MockRouter,
    db_url: str,
    platform: str,
    url: str,
    failure: httpx.Response | Exception,
    code: str,
) -> None:
    seed(cli, ("u1", platform), expires_in=3600)
    with_data(db_url, "u1", platform)
    before = connection(db_url, "u1", platform)
    mock_http.post(url).mock(side_effect=[failure])
    result = disconnect(cli, "u1", platform)
    assert result.code == 1
    assert result.json["success"] is False and result.json["error"]["code"] == code
    assert (result.json["userId"], result.json["platform"]) == ("u1", platform)
    after = connection(db_url, "u1", platform)
    assert rows(db_url, "u1", platform) == (1, 1, 3), "nothing deleted"
    assert after.access_token_enc == before.access_token_enc and after.lease_owner is None


def test_no_revoke_keep_data_dry_run_and_connecting_again(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "discord"), expires_in=3600)
    with_data(db_url, "u1", "discord", items=4)
    first_id = connection(db_url, "u1", "discord").id

    dry = disconnect(cli, "u1", "discord", "--dry-run", "--keep-data")
    assert dry.code == 0 and dry.json["dryRun"] is True
    assert dry.json["revocation"] == {"wouldRevoke": True, "endpoint": DISCORD_REVOKE}
    assert dry.json["wouldDelete"] == {"connections": 1, "sync_state": 1, "user_platform_data": 0}
    assert rows(db_url, "u1", "discord") == (1, 1, 4), "a dry run changes nothing"

    kept = disconnect(cli, "u1", "discord", "--no-revoke", "--keep-data")
    assert kept.code == 0, kept.out
    assert (
        kept.json["revocation"]["revoked"] is False
        and "--no-revoke" in kept.json["revocation"]["reason"]
    )
    assert kept.json["deleted"] == {"connections": 1, "sync_state": 1, "user_platform_data": 0}
    assert stored_items(db_url, "u1", "discord") == {"things": 4}

    seed(cli, ("u1", "discord"), expires_in=3600)
    again = connection(db_url, "u1", "discord")
    assert again.id != first_id and again.status == "active" and again.last_sync_at is None
    assert (
        cli("tokens", "get", "--user", "u1", "--platform", "discord").json["connectionId"]
        == again.id
    )

    mock_http.post(DISCORD_REVOKE).respond(200, json={})
    gone = disconnect(cli, "u1", "discord")
    assert gone.json["deleted"] == {"connections": 1, "sync_state": 0, "user_platform_data": 4}
    nothing = disconnect(cli, "u1", "discord")
    assert nothing.code == 0 and nothing.json["connectionId"] is None
    assert nothing.json["deleted"] == {"connections": 0, "sync_state": 0, "user_platform_data": 0}


def test_a_dead_grant_is_still_revoked_and_deleted(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "google_calendar"), expires_in=30)
    mock_http.post(TOKEN_URLS["google"]).respond(
        400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    assert cli("refresh-tokens").json["needsReauth"] == 1
    mock_http.post(GOOGLE_REVOKE).respond(
        400, json={"error": "invalid_token", "error_description": "Token expired or revoked"}
    )
    result = disconnect(cli, "u1", "google_calendar")
    assert result.code == 0, result.out
    assert result.json["revocation"]["alreadyInvalid"] is True
    store = open_store(db_url)
    try:
        assert list(store.iter_connections(Filters(users=("u1",)))) == []
    finally:
        store.close()
    assert json.dumps(result.json).count("RT-") == 0

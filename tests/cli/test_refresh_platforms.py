"""refresh-tokens against each built-in platform's real answers (respx), on both engines."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from tests.support.support import (
    CLIENT_ENV,
    TOKEN_URLS,
    Cli,
    connection,
    results_by_user,
    seed,
    tokens,
)

SECRET_VALUES = tuple(CLIENT_ENV.values())


def assert_clean(result, *secrets: str) -> None:  # type: ignore[no-untyped-def]
    text = result.out + result.err
    for secret in (*SECRET_VALUES, *secrets):
        assert secret not in text


def basic(client: str) -> str:
    pair = f"{client}-client-id-value:{client}-client-secret-value".encode()
    return "Basic " + base64.b64encode(pair).decode()


def test_spotify_rotates_with_basic_auth(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("u1", "spotify"))
    route = mock_http.post(
        TOKEN_URLS["spotify"],
        data__contains={"grant_type": "refresh_token", "refresh_token": "RT-spotify-u1"},
        headers={"Authorization": basic("spotify"), "Accept": "application/json"},
    ).respond(
        200,
        json={
            "access_token": "NEW-AT",
            "token_type": "Bearer",
            "scope": "user-read-recently-played",
            "expires_in": 3600,
            "refresh_token": "NEW-RT",
        },
    )
    before = datetime.now(UTC)
    result = cli("refresh-tokens")
    assert result.code == 0, result.out
    doc = result.json
    assert doc["success"] is True and doc["cronType"] == "token-refresh"
    assert (doc["tokensChecked"], doc["tokensRefreshed"], doc["tokensFailed"]) == (1, 1, 0)
    entry = results_by_user(doc)["u1"]
    assert entry["rotated"] is True and entry["success"] is True
    expiry = datetime.fromisoformat(entry["newExpiry"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=3590) <= expiry <= before + timedelta(seconds=3700)
    assert tokens(db_url, key, "u1", "spotify") == ("NEW-AT", "NEW-RT")
    assert route.call_count == 1
    assert b"client_secret" not in route.calls[0].request.content, "Basic auth, not form fields"
    assert cli("refresh-tokens").json["tokensChecked"] == 0, "no longer due"
    assert_clean(result, "NEW-AT", "NEW-RT", "RT-spotify-u1", key)


def test_spotify_without_rotation_keeps_the_refresh_token(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("u1", "spotify"))
    mock_http.post(TOKEN_URLS["spotify"]).respond(
        200, json={"access_token": "NEW-AT", "token_type": "Bearer", "expires_in": 3600}
    )
    entry = results_by_user(cli("refresh-tokens").json)["u1"]
    assert entry["rotated"] is False
    assert tokens(db_url, key, "u1", "spotify") == ("NEW-AT", "RT-spotify-u1")


def test_google_platforms_share_credentials_and_never_rotate(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("u1", "youtube"), ("u1", "google_gmail"), ("u1", "google_calendar"))
    route = mock_http.post(
        TOKEN_URLS["google"],
        data__contains={
            "grant_type": "refresh_token",
            "client_id": "google-client-id-value",
            "client_secret": "google-client-secret-value",
        },
    ).respond(
        200,
        json={
            "access_token": "ya29.NEW",
            "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/youtube.readonly",
            "token_type": "Bearer",
        },
    )
    doc = cli("refresh-tokens").json
    assert doc["tokensRefreshed"] == 3 and route.call_count == 3
    for platform in ("youtube", "google_gmail", "google_calendar"):
        assert tokens(db_url, key, "u1", platform) == ("ya29.NEW", f"RT-{platform}-u1")


def test_github_app_tokens_rotate_and_errors_come_with_200(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("ok", "github"), ("dead", "github"))
    mock_http.post(
        TOKEN_URLS["github"],
        data__contains={"refresh_token": "RT-github-ok"},
        headers={"Accept": "application/json"},
    ).respond(
        200,
        json={
            "access_token": "ghu_NEW",
            "expires_in": 28800,
            "refresh_token": "ghr_NEW",
            "refresh_token_expires_in": 15811200,
            "scope": "",
            "token_type": "bearer",
        },
    )
    mock_http.post(
        TOKEN_URLS["github"], data__contains={"refresh_token": "RT-github-dead"}
    ).respond(
        200,
        json={
            "error": "bad_refresh_token",
            "error_description": "The refresh token passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/troubleshooting",
        },
    )
    result = cli("refresh-tokens")
    assert result.code == 1
    doc = result.json
    assert (doc["tokensRefreshed"], doc["tokensFailed"], doc["needsReauth"]) == (1, 1, 1)
    by_user = results_by_user(doc)
    assert by_user["dead"]["status"] == "needs_reauth"
    assert by_user["dead"]["error"]["code"] == "bad_refresh_token"
    assert tokens(db_url, key, "ok", "github") == ("ghu_NEW", "ghr_NEW")
    assert connection(db_url, "dead", "github").status == "needs_reauth"
    again = cli("refresh-tokens").json
    assert again["tokensChecked"] == 0, "a dead grant is not retried"


def test_discord_invalid_grant_marks_needs_reauth(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u3", "discord"))
    mock_http.post(
        TOKEN_URLS["discord"], data__contains={"client_id": "discord-client-id-value"}
    ).respond(
        400,
        json={"error": "invalid_grant", "error_description": 'Invalid "refresh_token" in request'},
    )
    doc = cli("refresh-tokens").json
    assert doc["needsReauth"] == 1 and doc["success"] is False
    conn = connection(db_url, "u3", "discord")
    assert (conn.status, conn.last_error_code) == ("needs_reauth", "invalid_grant")
    status = cli("status").json
    assert status["needsReauth"]["connections"][0]["userId"] == "u3"


def test_discord_success_with_string_expires_in(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("u3", "discord"))
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200,
        json={
            "access_token": "D-NEW",
            "token_type": "Bearer",
            "expires_in": "604800",
            "refresh_token": "D-RT2",
            "scope": "identify guilds",
        },
    )
    entry = results_by_user(cli("refresh-tokens").json)["u3"]
    expiry = datetime.fromisoformat(entry["newExpiry"].replace("Z", "+00:00"))
    assert expiry - datetime.now(UTC) > timedelta(days=6, hours=23)
    assert tokens(db_url, key, "u3", "discord") == ("D-NEW", "D-RT2")


def test_wrong_client_credentials_touch_nothing_and_skip_the_platform(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("a", "spotify"), ("b", "spotify"), ("c", "spotify"), ("d", "discord"))
    spotify = mock_http.post(TOKEN_URLS["spotify"]).respond(
        400, json={"error": "invalid_client", "error_description": "Invalid client"}
    )
    mock_http.post(TOKEN_URLS["discord"]).respond(
        200, json={"access_token": "x", "expires_in": 604800, "refresh_token": "y"}
    )
    result = cli("refresh-tokens", "--concurrency", "1")
    doc = result.json
    assert result.code == 1
    assert spotify.call_count == 1, "the rest of the platform is skipped"
    assert doc["tokensRefreshed"] == 1 and doc["tokensFailed"] == 3 and doc["needsReauth"] == 0
    for user in "abc":
        entry = results_by_user(doc)[user]
        assert entry["error"]["code"] == "invalid_client"
        assert "TOKENSYNC_SPOTIFY_CLIENT_ID" in entry["error"]["message"]
        conn = connection(db_url, user, "spotify")
        assert (conn.status, conn.failure_count, conn.lease_owner) == ("active", 0, None)
    assert_clean(result)


def test_missing_credentials_are_a_platform_config_error(
    run_cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(run_cli, ("a", "spotify"))
    doc = run_cli("refresh-tokens").json
    assert results_by_user(doc)["a"]["error"]["code"] == "missing_client_credentials"
    assert connection(db_url, "a", "spotify").failure_count == 0


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.Response(503, html="<html><body>Service Unavailable</body></html>"), "transient"),
        (httpx.Response(502, text=""), "transient"),
        (httpx.Response(200, html="<!DOCTYPE html><title>Login</title>"), "malformed_response"),
        (
            httpx.Response(
                200,
                text='{"access_token": "abc", "exp',
                headers={"content-type": "application/json"},
            ),
            "malformed_response",
        ),
        (
            httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3600}),
            "malformed_response",
        ),
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectError("connection refused"), "connection_error"),
    ],
)
def test_transient_failures_back_off(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, response: object, code: str
) -> None:
    seed(cli, ("u", "spotify"))
    mock_http.post(TOKEN_URLS["spotify"]).mock(side_effect=[response])
    result = cli("refresh-tokens")
    assert result.code == 1
    entry = results_by_user(result.json)["u"]
    assert entry["status"] == "active" and entry["error"]["code"] == code
    conn = connection(db_url, "u", "spotify")
    assert conn.status == "active" and conn.failure_count == 1
    assert conn.next_attempt_at is not None and conn.next_attempt_at > datetime.now(UTC)
    assert conn.lease_owner is None
    assert cli("refresh-tokens").json["tokensChecked"] == 0, "backed off"
    assert "Traceback" not in result.err


def test_rate_limit_short_wait_is_retried(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("u", "spotify"))
    route = mock_http.post(TOKEN_URLS["spotify"]).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"access_token": "AFTER", "expires_in": 3600}),
        ]
    )
    doc = cli("refresh-tokens").json
    assert doc["tokensRefreshed"] == 1 and route.call_count == 2
    assert tokens(db_url, key, "u", "spotify")[0] == "AFTER"


def test_rate_limit_long_wait_defers(cli: Cli, mock_http: respx.MockRouter, db_url: str) -> None:
    seed(cli, ("u", "spotify"))
    mock_http.post(TOKEN_URLS["spotify"]).respond(429, headers={"Retry-After": "3600"})
    entry = results_by_user(cli("refresh-tokens").json)["u"]
    assert entry["error"]["code"] == "rate_limited"
    conn = connection(db_url, "u", "spotify")
    assert conn.next_attempt_at is not None
    assert conn.next_attempt_at > datetime.now(UTC) + timedelta(minutes=59)


def test_invalid_grant_after_another_run_rotated_marks_nothing(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u", "discord"))

    def rotated_meanwhile(request: httpx.Request) -> httpx.Response:
        # Another writer stores a new refresh token while our request is in flight.
        import os

        from tokensync.crypto import Keyring, binding
        from tokensync.store import NewTokens, open_store

        ring = Keyring([os.environ["TOKENSYNC_ENCRYPTION_KEYS"]])
        store = open_store(db_url)
        store.upsert_connections(
            [
                NewTokens(
                    "u",
                    "discord",
                    ring.encrypt("A2", binding("u", "discord", "access")),
                    ring.encrypt("R2", binding("u", "discord", "refresh")),
                    "Bearer",
                    None,
                    None,
                )
            ],
            datetime.now(UTC),
        )
        store.close()
        return httpx.Response(400, json={"error": "invalid_grant"})

    mock_http.post(TOKEN_URLS["discord"]).mock(side_effect=rotated_meanwhile)
    doc = cli("refresh-tokens").json
    assert doc["needsReauth"] == 0 and doc["tokensFailed"] == 0
    assert connection(db_url, "u", "discord").status == "active"


def test_dry_run_touches_nothing(cli: Cli, mock_http: respx.MockRouter, db_url: str) -> None:
    seed(cli, ("a", "spotify"), ("b", "github"))
    seed(cli, ("c", "discord"), expires_in=7200)
    result = cli("refresh-tokens", "--dry-run")
    doc = result.json
    assert result.code == 0 and doc["dryRun"] is True
    assert sorted(r["userId"] for r in doc["results"]) == ["a", "b"]
    assert connection(db_url, "a", "spotify").lease_owner is None
    assert "lastRuns" in cli("status").json and cli("status").json["lastRuns"] == {}


def test_filters_and_results_modes(cli: Cli, mock_http: respx.MockRouter) -> None:
    seed(cli, ("a", "spotify"), ("b", "spotify"), ("c", "discord"))
    mock_http.post(TOKEN_URLS["spotify"], data__contains={"refresh_token": "RT-spotify-a"}).respond(
        200, json={"access_token": "x", "expires_in": 3600}
    )
    mock_http.post(TOKEN_URLS["spotify"], data__contains={"refresh_token": "RT-spotify-b"}).respond(
        503
    )
    doc = cli("refresh-tokens", "--platform", "spotify", "--results", "failures").json
    assert doc["tokensChecked"] == 2
    assert [r["userId"] for r in doc["results"]] == ["b"]
    none = cli("refresh-tokens", "--user", "c", "--results", "none", "--dry-run").json
    assert none["tokensChecked"] == 1 and none["results"] == []


def test_custom_platform_from_the_config_file(
    cli: Cli, mock_http: respx.MockRouter, tmp_path, db_url: str, key: str
) -> None:
    config = tmp_path / "tokensync.toml"
    config.write_text(
        '[platforms.acme]\ntoken_url = "https://id.acme.example/oauth/token"\n'
        'auth_method = "client_secret_basic"\nclient_id = "acme-id"\n'
    )
    env = {"TOKENSYNC_CONFIG": str(config), "TOKENSYNC_ACME_CLIENT_SECRET": "acme-secret"}
    seed(lambda *a, **k: cli(*a, extra_env=env, **k), ("u", "acme"))
    mock_http.post(
        "https://id.acme.example/oauth/token",
        headers={"Authorization": "Basic " + base64.b64encode(b"acme-id:acme-secret").decode()},
        data__contains={"grant_type": "refresh_token", "refresh_token": "RT-acme-u"},
    ).respond(200, json={"access_token": "ACME-NEW", "token_type": "Bearer"})
    doc = cli("refresh-tokens", extra_env=env).json
    assert doc["tokensRefreshed"] == 1
    conn = connection(db_url, "u", "acme")
    assert conn.expires_at is not None, "no expires_in means one hour"
    assert timedelta(minutes=59) < conn.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_runs_are_recorded(cli: Cli, mock_http: respx.MockRouter) -> None:
    seed(cli, ("a", "spotify"))
    mock_http.post(TOKEN_URLS["spotify"]).respond(503)
    cli("refresh-tokens")
    last = cli("status").json["lastRuns"]["refresh-tokens"]
    assert last["success"] is False and last["exitCode"] == 1
    assert last["summary"]["tokensFailed"] == 1


def test_a_hanging_provider_times_out_as_transient(cli: Cli, db_url: str, tmp_path) -> None:
    import asyncio

    config = tmp_path / "fast.toml"
    config.write_text('request_timeout = "1s"\nlease = "10s"\n')
    seed(cli, ("u", "spotify"))

    answered: list[bool] = []

    async def hang(request: httpx.Request) -> httpx.Response:
        # Longer than the exchange's bound (twice request_timeout: 2 s), far shorter than the
        # default's: which ends first is the order of two timers, whatever the machine's load.
        await asyncio.sleep(3)
        answered.append(True)
        return httpx.Response(200, json={"access_token": "late"})

    # The cancelled call is never recorded, so this router cannot insist on calls.
    with respx.mock(using="httpx", assert_all_called=False) as router:
        router.post(TOKEN_URLS["spotify"]).mock(side_effect=hang)
        result = cli("refresh-tokens", extra_env={"TOKENSYNC_CONFIG": str(config)})
    assert result.code == 1
    entry = results_by_user(result.json)["u"]
    assert entry["error"]["code"] == "timeout" and entry["status"] == "active"
    assert answered == [], "the configured timeout ended the wait before the provider answered"
    assert connection(db_url, "u", "spotify").failure_count == 1


def test_verbose_logs_one_line_per_refresh_without_secrets(
    cli: Cli, mock_http: respx.MockRouter, key: str, db_url: str
) -> None:
    import json

    seed(cli, ("a", "spotify"), ("b", "spotify"))
    mock_http.post(TOKEN_URLS["spotify"]).respond(
        200, json={"access_token": "LOGGED-AT", "expires_in": 3600, "refresh_token": "LOGGED-RT"}
    )
    result = cli("-v", "refresh-tokens")
    lines = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    ids = {connection(db_url, user, "spotify").id for user in ("a", "b")}
    assert {line["connectionId"] for line in lines} == ids
    assert all("userId" not in line for line in lines), "logs name connections, not users"
    for line in lines:
        assert line["event"] == "refresh" and line["outcome"] == "refreshed"
        assert line["platform"] == "spotify" and isinstance(line["durationMs"], int)
        assert isinstance(line["connectionId"], int)
    assert_clean(result, "LOGGED-AT", "LOGGED-RT", "RT-spotify-a", key)

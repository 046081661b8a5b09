"""`tokens get`: a fresh access token for the application, on both engines (respx)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import respx

from tests.support.support import CLIENT_ENV, TOKEN_URLS, Cli, connection, seed, tokens

DISCORD = {"access_token": "NEW-AT", "token_type": "Bearer", "expires_in": 604800}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def clean(text: str, *secrets: str) -> None:
    for secret in (*CLIENT_ENV.values(), *secrets):
        assert secret not in text


def test_a_fresh_token_is_returned_as_stored_without_a_request(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    # Strict respx without a route: any request would fail the command.
    seed(cli, ("u1", "spotify"), expires_in=3600)
    result = cli("tokens", "get", "--user", "u1", "--platform", "spotify")
    assert result.code == 0, result.out
    conn = connection(db_url, "u1", "spotify")
    assert result.json == {
        "success": True,
        "userId": "u1",
        "platform": "spotify",
        "connectionId": conn.id,
        "accessToken": "AT-spotify-u1",
        "tokenType": "Bearer",
        "expiresAt": result.json["expiresAt"],
        "scope": None,
        "refreshed": False,
    }
    assert conn.expires_at is not None
    assert when(result.json["expiresAt"]) == conn.expires_at.replace(microsecond=0)
    assert conn.lease_owner is None and conn.last_refreshed_at is None


def test_a_token_within_min_ttl_is_refreshed_first_and_stored(
    cli: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    seed(cli, ("u1", "discord"), expires_in=240)
    route = mock_http.post(
        TOKEN_URLS["discord"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": "RT-discord-u1",
            "client_id": "discord-client-id-value",
            "client_secret": "discord-client-secret-value",
        },
    ).respond(200, json={**DISCORD, "refresh_token": "NEW-RT", "scope": "identify guilds"})
    before = datetime.now(UTC)
    result = cli("-v", "tokens", "get", "--user", "u1", "--platform", "discord")
    assert result.code == 0, result.out
    doc = result.json
    assert (doc["accessToken"], doc["refreshed"], route.call_count) == ("NEW-AT", True, 1)
    assert before + timedelta(seconds=604790) <= when(doc["expiresAt"])
    assert tokens(db_url, key, "u1", "discord") == ("NEW-AT", "NEW-RT")
    stored = connection(db_url, "u1", "discord")
    assert stored.lease_owner is None and stored.last_refreshed_at is not None
    # The one command whose stdout holds a secret: nothing else about it changes the rule.
    clean(result.err, "NEW-AT", "NEW-RT", "RT-discord-u1", "AT-discord-u1", key)
    (line,) = [json.loads(x) for x in result.err.splitlines() if x.startswith("{")]
    assert line["event"] == "get" and line["outcome"] == "refreshed" and "userId" not in line
    assert cli("status").json["lastRuns"] == {}, "the runs table records job runs only"

    again = cli("tokens", "get", "--user", "u1", "--platform", "discord").json
    assert (again["accessToken"], again["refreshed"], route.call_count) == ("NEW-AT", False, 1)


def test_min_ttl_and_force_refresh(cli: Cli, mock_http: respx.MockRouter) -> None:
    seed(cli, ("u1", "discord"), expires_in=240)
    route = mock_http.post(TOKEN_URLS["discord"]).respond(200, json=DISCORD)
    short = cli("tokens", "get", "--user", "u1", "--platform", "discord", "--min-ttl", "0s").json
    assert (short["accessToken"], route.call_count) == ("AT-discord-u1", 0)
    args = ("tokens", "get", "--user", "u1", "--platform", "discord", "--min-ttl", "1m")
    forced = cli(*args, "--force-refresh").json
    assert (forced["accessToken"], forced["refreshed"], route.call_count) == ("NEW-AT", True, 1)


def test_what_cannot_give_a_token_says_why_and_exits_nonzero(
    cli: Cli, mock_http: respx.MockRouter, db_url: str
) -> None:
    seed(cli, ("u1", "spotify"), ("u2", "discord"), expires_in=30)
    cli(
        "tokens",
        "import",
        stdin=json.dumps(
            {"userId": "u3", "platform": "google_gmail", "accessToken": "AT-g", "expiresIn": 30}
        ),
    )
    mock_http.post(TOKEN_URLS["spotify"]).respond(
        400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
    )
    mock_http.post(TOKEN_URLS["discord"]).respond(503, text="<html>Service Unavailable</html>")

    def get(user: str, platform: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        result = cli("tokens", "get", "--user", user, "--platform", platform)
        clean(result.out + result.err, f"AT-{platform}-{user}", f"RT-{platform}-{user}")
        return result.code, result.json

    code, dead = get("u1", "spotify")
    assert (code, dead["success"], dead["error"]["code"]) == (1, False, "needs_reauth")
    assert (dead["userId"], dead["platform"]) == ("u1", "spotify")
    assert connection(db_url, "u1", "spotify").status == "needs_reauth"
    assert get("u1", "spotify")[1]["error"]["code"] == "needs_reauth", "and stays so"

    code, down = get("u2", "discord")
    assert (code, down["error"]["code"]) == (1, "transient")
    assert "accessToken" not in down
    assert connection(db_url, "u2", "discord").failure_count == 1, "backs off like any refresh"

    code, none = get("u3", "google_gmail")
    assert (code, none["error"]["code"]) == (1, "not_refreshable")
    code, unknown = get("nobody", "spotify")
    assert (code, unknown["error"]["code"]) == (1, "not_found")
    code, bad = get("u1", "myspace")
    assert (code, bad["error"]["code"]) == (2, "usage_error")
    result = cli("tokens", "get", "--user", "u1", "--platform", "spotify", "--min-ttl", "soon")
    assert (result.code, result.json["error"]["code"]) == (2, "usage_error")


def test_an_unreachable_database_exits_3(cli: Cli) -> None:
    url = "postgresql://u:hunter2@127.0.0.1:1/db"
    result = cli(
        "tokens",
        "get",
        "--user",
        "u1",
        "--platform",
        "spotify",
        extra_env={"TOKENSYNC_DATABASE_URL": url},
    )
    assert (result.code, result.json["error"]["code"]) == (3, "database_error")
    assert "hunter2" not in result.out + result.err


def test_a_refresh_that_answers_garbage_returns_no_token(
    cli: Cli, mock_http: respx.MockRouter
) -> None:
    seed(cli, ("u1", "discord"), expires_in=30)
    mock_http.post(TOKEN_URLS["discord"]).mock(
        side_effect=[httpx.Response(200, text="<html>login</html>")]
    )
    result = cli("tokens", "get", "--user", "u1", "--platform", "discord")
    assert (result.code, result.json["error"]["code"]) == (1, "malformed_response")
    assert "AT-discord-u1" not in result.out, "never an expired token"

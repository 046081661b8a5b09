"""providerUserId: the provider's id of the account behind a connection, on both engines: given at
import (or by save_grant), read from a Google ID token's `sub`, learned from GitHub's GET /user
while polling, shown by `tokens list`."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.jobs.harness import HANG, json_response, make_job
from tests.support import payloads as p
from tests.support.support import CLIENT_ENV, Cli, connection, run_sql
from tokensync.client import open_client
from tokensync.jobs.options import PollOptions
from tokensync.jobs.poll_platforms import run_poll
from tokensync.store import open_store

GOOGLE_SUB = "110169484474386276334"


def google_id_token(sub: str = GOOGLE_SUB) -> str:
    """An ID token of the shape Google's token endpoint returns (the signature is not read)."""
    claims = {
        "iss": "https://accounts.google.com",
        "azp": "google-client-id-value",
        "aud": "google-client-id-value",
        "sub": sub,
        "email": "jane@example.com",
        "email_verified": True,
        "iat": 1764590400,
        "exp": 1764594000,
    }

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def line(user: str, platform: str, **fields: object) -> str:
    return json.dumps({"userId": user, "platform": platform, "accessToken": f"AT-{user}", **fields})


def listed(cli: Cli) -> dict[tuple[str, str], object]:
    result = cli("tokens", "list")
    assert result.code == 0, result.err
    return {(c["userId"], c["platform"]): c["providerUserId"] for c in result.json}


def test_an_import_stores_the_account_id_and_tokens_list_shows_it(cli: Cli) -> None:
    lines = [
        line("u1", "github", refreshToken="RT-1", providerUserId="583231"),
        line("u2", "youtube", refreshToken="RT-2", idToken=google_id_token()),
        line("u3", "spotify", refreshToken="RT-3"),
    ]
    result = cli("tokens", "import", stdin="\n".join(lines))
    assert result.code == 0, result.err
    assert listed(cli) == {
        ("u1", "github"): "583231",
        ("u2", "youtube"): GOOGLE_SUB,
        ("u3", "spotify"): None,
    }


def test_the_same_grant_keeps_the_id_and_a_new_grant_replaces_it(cli: Cli) -> None:
    first = line("u1", "github", refreshToken="RT-1", providerUserId="583231")
    assert cli("tokens", "import", stdin=first).code == 0
    # No refreshToken: the stored grant goes on, and so does its account.
    assert cli("tokens", "import", stdin=line("u1", "github")).code == 0
    assert listed(cli) == {("u1", "github"): "583231"}
    # A new grant without the field may be another account's: the stored id is not kept.
    assert cli("tokens", "import", stdin=line("u1", "github", refreshToken="RT-2")).code == 0
    assert listed(cli) == {("u1", "github"): None}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"idToken": google_id_token(), "providerUserId": "another"},
            "line 1: providerUserId and the sub of idToken name different accounts",
        ),
        ({"idToken": "not-a-jwt"}, "line 1: idToken: not a JWT"),
        ({"providerUserId": "  "}, "line 1: providerUserId must be a non-empty string"),
        ({"providerUserId": "a\nb"}, "line 1: providerUserId must not hold control characters"),
    ],
)
def test_a_bad_account_id_is_refused_and_nothing_changes(
    cli: Cli, fields: dict[str, object], message: str
) -> None:
    result = cli("tokens", "import", stdin=line("u1", "youtube", **fields))
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert "not-a-jwt" not in result.err + result.out, "nothing of a token is echoed"
    assert listed(cli) == {}


def test_an_id_token_is_read_only_where_google_issues_the_grant(cli: Cli) -> None:
    result = cli("tokens", "import", stdin=line("u1", "discord", idToken=google_id_token()))
    assert result.code == 2
    assert "idToken is read for the platforms whose grants Google issues" in result.err
    assert listed(cli) == {}


def test_save_grant_takes_the_id_or_googles_id_token(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    for name, value in {**env, **CLIENT_ENV}.items():
        monkeypatch.setenv(name, value)
    google = {  # Google's token response with the openid scope, as an OAuth callback gets it
        "access_token": "ya29.a0-cb",
        "expires_in": 3599,
        "refresh_token": "1//0g-cb",
        "scope": "openid https://www.googleapis.com/auth/youtube.readonly",
        "token_type": "Bearer",
        "id_token": google_id_token(),
    }
    with open_client() as client:
        client.save_grant("u1", "youtube", google)
        client.save_grant("u1", "github", {"access_token": "ghu_1"}, provider_user_id="583231")
    assert connection(db_url, "u1", "youtube").provider_user_id == GOOGLE_SUB
    assert connection(db_url, "u1", "github").provider_user_id == "583231"


def test_a_poll_stores_the_id_only_for_the_grant_it_polled_with(db_url: str, cli: Cli) -> None:
    assert cli("tokens", "import", stdin=line("u1", "github", refreshToken="RT-1")).code == 0
    conn = connection(db_url, "u1", "github")
    store = open_store(db_url)
    try:
        assert store.note_provider_user(conn.id, conn.grant_generation, "583231")
        assert not store.note_provider_user(conn.id, conn.grant_generation, "583231")
        # A grant written since: what a poll of the older one learned is not this grant's.
        run_sql(db_url, "UPDATE connections SET grant_generation = grant_generation + 1")
        assert not store.note_provider_user(conn.id, conn.grant_generation, "999")
    finally:
        store.close()
    assert connection(db_url, "u1", "github").provider_user_id == "583231"


def test_githubs_get_user_during_a_poll_fills_the_id_once(tmp_path: Path) -> None:
    job = make_job(tmp_path, 'poll_interval = "0s"\n')
    job.add("u1", "github", expires_in=28800)
    paths: list[str] = []

    def github(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer AT-github-u1"
        paths.append(request.url.path)
        if request.url.path == "/user":
            return json_response(200, p.github_user())
        if request.url.path == "/users/octocat/events":
            return json_response(200, [p.github_event(1)])
        assert request.url.path == "/user/repos", request.url
        return json_response(200, [])

    async def poll() -> None:
        async with job.deps(github) as deps:
            await asyncio.wait_for(run_poll(deps, PollOptions(concurrency=4)), HANG)

    asyncio.run(poll())
    assert job.connection("u1", "github").provider_user_id == "583231"
    assert paths.count("/user") == 1
    # Known now, with the login in the sync state: the next poll asks GET /user no more.
    paths.clear()
    job.clock.elapsed += 120  # due again
    asyncio.run(poll())
    assert "/user" not in paths and "/users/octocat/events" in paths

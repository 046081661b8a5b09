"""tokensync api, in process on both engines, against strict respx mocks of the platforms' APIs
(payloads of their real shapes): the token is the connection's own and never printed, a 401
refreshes it once and the request goes again, --paginate follows GitHub's Link header and
Spotify's `next`, and nothing is ever sent outside the configured api_base."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from tests.support import payloads as p
from tests.support.support import CLIENT_ENV, TOKEN_URLS, Cli, seed, tokens
from tokensync.client import TokenClient
from tokensync.settings import load_settings

REPOS = f"{p.GITHUB}/user/repos"


def bearer(request: httpx.Request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


@pytest.fixture
def connected(cli: Cli) -> Cli:
    seed(cli, ("u1", "github"), ("u1", "spotify"), expires_in=3600)
    return cli


def test_a_get_prints_the_body_and_never_the_token(
    connected: Cli, mock_http: respx.MockRouter
) -> None:
    limits = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"}
    route = mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user(), headers=limits)
    result = connected("-v", "api", "--user", "u1", "--platform", "github", "/user")
    assert result.code == 0, result.err
    assert json.loads(result.out) == p.github_user()
    assert bearer(route.calls.last.request) == "AT-github-u1"
    assert "AT-github-u1" not in result.out + result.err
    # -v: the status and the rate limits, on stderr.
    assert '"status": 200' in result.err or "status=200" in result.err, result.err
    assert "4999" in result.err


def test_fields_are_a_gets_query_and_a_posts_json_body(
    connected: Cli, mock_http: respx.MockRouter
) -> None:
    listed = mock_http.get(REPOS, params={"visibility": "public"}).respond(200, json=[])
    created = mock_http.post(REPOS).respond(201, json=p.github_repo(7))
    args = ("api", "--user", "u1", "--platform", "github")
    assert connected(*args, "/user/repos", "-f", "visibility=public").json == []
    result = connected(*args, "/user/repos", "-X", "POST", "-f", "name=hello", "-f", "private=x")
    assert result.code == 0 and json.loads(result.out)["id"] == p.github_repo(7)["id"]
    assert json.loads(created.calls.last.request.content) == {"name": "hello", "private": "x"}
    assert listed.called


def test_a_401_refreshes_the_token_once_and_sends_the_request_again(
    connected: Cli, mock_http: respx.MockRouter, db_url: str, key: str
) -> None:
    answers = iter(
        [
            httpx.Response(401, json={"message": "Bad credentials"}),
            httpx.Response(200, json=p.github_user()),
        ]
    )
    api = mock_http.get(f"{p.GITHUB}/user").mock(side_effect=lambda request: next(answers))
    refreshed = {
        "access_token": "ghu_new",
        "expires_in": 28800,
        "refresh_token": "ghr_new",
        "refresh_token_expires_in": 15811200,
        "scope": "",
        "token_type": "bearer",
    }
    endpoint = mock_http.post(TOKEN_URLS["github"]).respond(200, json=refreshed)
    result = connected("api", "--user", "u1", "--platform", "github", "/user")
    assert result.code == 0, result.out
    assert endpoint.call_count == 1
    assert [bearer(c.request) for c in api.calls] == ["AT-github-u1", "ghu_new"]
    assert tokens(db_url, key, "u1", "github") == ("ghu_new", "ghr_new")  # stored, rotated
    assert "ghu_new" not in result.out + result.err


def test_paginate_follows_githubs_link_header(connected: Cli, mock_http: respx.MockRouter) -> None:
    second = f"{REPOS}?page=2"
    link = f'<{second}>; rel="next", <{second}>; rel="last"'
    mock_http.get(REPOS, params={"page": "2"}).respond(200, json=[p.github_repo(3)])
    mock_http.get(REPOS).respond(
        200, json=[p.github_repo(1), p.github_repo(2)], headers={"link": link}
    )
    result = connected("api", "--user", "u1", "--platform", "github", "/user/repos", "--paginate")
    assert result.code == 0, result.out
    assert [r["id"] for r in json.loads(result.out)] == [p.github_repo(n)["id"] for n in (1, 2, 3)]


def test_paginate_follows_spotifys_next(connected: Cli, mock_http: respx.MockRouter) -> None:
    top = f"{p.SPOTIFY}/me/top/tracks"
    mock_http.get(top, params={"offset": "50", "limit": "50"}).respond(
        200, json=p.spotify_top_tracks([3], offset=50, total=51)
    )
    mock_http.get(top).respond(200, json=p.spotify_top_tracks(list(range(50)), total=51))
    result = connected(
        "api", "--user", "u1", "--platform", "spotify", "/me/top/tracks", "--paginate"
    )
    assert result.code == 0, result.out
    assert len(json.loads(result.out)) == 51


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/user",  # another host
        "http://api.github.com/user",  # another scheme
        "/user/../../orgs",  # out of the base
        "user",  # not a path
    ],
)
def test_nothing_is_sent_outside_the_api_base(
    connected: Cli, mock_http: respx.MockRouter, path: str
) -> None:
    result = connected("api", "--user", "u1", "--platform", "github", path)
    assert result.code == 2, result.out
    assert result.json["error"]["code"] == "usage_error"
    assert not mock_http.calls


def test_an_absolute_url_on_the_base_is_followed(
    connected: Cli, mock_http: respx.MockRouter
) -> None:
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    result = connected("api", "--user", "u1", "--platform", "github", f"{p.GITHUB}/user")
    assert result.code == 0 and json.loads(result.out)["login"] == "octocat"


def test_a_refusal_and_an_unknown_connection_are_error_documents(
    connected: Cli, mock_http: respx.MockRouter
) -> None:
    mock_http.get(f"{p.GITHUB}/repos/x/y").respond(404, json={"message": "Not Found"})
    missing = connected("api", "--user", "u1", "--platform", "github", "/repos/x/y")
    assert missing.code == 1 and missing.json["error"]["code"] == "http_404"
    assert missing.json["userId"] == "u1" and missing.json["platform"] == "github"
    nobody = connected("api", "--user", "nobody", "--platform", "github", "/user")
    assert nobody.code == 1 and nobody.json["error"]["code"] == "not_found"
    discord = connected("api", "--user", "u1", "--platform", "discord", "/users/@me", "--paginate")
    assert discord.code == 2 and "after=" in discord.json["error"]["message"]


def test_the_same_from_python(
    connected: Cli, mock_http: respx.MockRouter, env: dict[str, str]
) -> None:
    mock_http.get(f"{p.GITHUB}/user").respond(200, json=p.github_user("monalisa"))
    settings = load_settings({**env, **CLIENT_ENV})
    with TokenClient(settings) as client:
        answer = client.request("u1", "github", "/user")
    assert answer.status == 200 and answer.body == p.github_user("monalisa")
    assert "AT-github-u1" not in repr(answer)


def test_a_refusal_that_echoes_the_token_shows_no_spelling_of_it(
    connected: Cli, mock_http: respx.MockRouter
) -> None:
    """A platform that quotes the bearer token back (plain, base64, URL-encoded) in its error:
    the error document says what it refused, never the token in any spelling."""
    import base64
    from urllib.parse import quote

    token = "AT-github-u1"
    spellings = [token, base64.b64encode(token.encode()).decode(), quote(f"Bearer {token}")]
    said = {"message": f"Must have admin rights for {' / '.join(spellings)}"}
    mock_http.get(f"{p.GITHUB}/orgs/x/hooks").respond(403, json=said)
    result = connected("-v", "api", "--user", "u1", "--platform", "github", "/orgs/x/hooks")
    assert result.code == 1 and result.json["error"]["code"] == "http_403"
    assert "Must have admin rights" in result.json["error"]["message"]
    for spelling in spellings:
        assert spelling not in result.out + result.err

"""Loopback provider stand-ins: strict rotation, failures, overlap, pages, ETags, start modes."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.standins import (
    CLIENT_ID,
    CLIENT_SECRET,
    INVALID_GRANT,
    Options,
    StandinServer,
    cli_args,
    make_tokens,
    run_in_process,
    run_in_thread,
    shapes,
)
from bench.standins.__main__ import parser

AUTH = (CLIENT_ID, CLIENT_SECRET)


def refresh(client: httpx.Client, token: str, **kwargs: Any) -> httpx.Response:
    """One refresh request, Basic client auth unless told otherwise."""
    kwargs.setdefault("auth", AUTH)
    data = {"grant_type": "refresh_token", "refresh_token": token, **kwargs.pop("data", {})}
    return client.post("/token", data=data, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with run_in_thread(delay=0, access_prefix="bench-at-", items=60, page_size=25) as server:
        yield server


@pytest.fixture
def client(server: StandinServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_make_tokens_is_deterministic_and_distinct() -> None:
    tokens = make_tokens(1000)
    assert tokens == make_tokens(1000)
    assert len(set(tokens)) == 1000
    assert make_tokens(5, seed=1) != make_tokens(5)
    assert make_tokens(10, start=5) == tokens[5:10]


def test_rotation_is_single_use_and_a_reused_token_revokes_the_grant(
    server: StandinServer, client: httpx.Client
) -> None:
    first, other = make_tokens(2)
    server.add_grant(first)
    server.add_grant(other)

    one = refresh(client, first)
    assert one.status_code == 200
    body = one.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"]
    second = body["refresh_token"]
    assert second != first and server.current_refresh_token(first) == second

    two = refresh(client, second)
    assert two.status_code == 200
    third = two.json()["refresh_token"]
    assert client.get("/github/user", headers=bearer(two.json()["access_token"])).status_code == 200

    reused = refresh(client, first)
    assert reused.status_code == 400
    assert reused.json() == INVALID_GRANT
    assert reused.json()["error_description"] == 'Invalid "refresh_token" in request'
    # The whole grant is gone: its newest refresh token and its access tokens too.
    assert refresh(client, third).json()["error"] == "invalid_grant"
    assert client.get("/github/user", headers=bearer(two.json()["access_token"])).status_code == 401
    assert server.current_refresh_token(first) is None
    # Another user's grant is untouched.
    assert refresh(client, other).status_code == 200

    stats = client.get("/stats").json()
    assert stats["requests"] == 5 and stats["refreshes"] == 3
    assert stats["reused_tokens"] == 1 and stats["revoked_grants"] == 1
    assert stats["invalid_grant"] == 2
    assert stats == {**stats, **vars(server.stats)}


def test_unknown_token_is_invalid_grant_without_revoking_anything(
    server: StandinServer, client: httpx.Client
) -> None:
    (token,) = make_tokens(1)
    server.add_grant(token)
    response = refresh(client, "never-issued")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert server.stats.revoked_grants == 0 and server.stats.reused_tokens == 0
    assert refresh(client, token).status_code == 200


def test_without_rotation_the_refresh_token_stays_and_no_new_one_comes() -> None:
    (token,) = make_tokens(1)
    with run_in_thread(delay=0, rotate=False) as server:
        server.add_grant(token)
        with httpx.Client(base_url=server.url) as client:
            bodies = [refresh(client, token).json() for _ in range(3)]
    assert all("refresh_token" not in body for body in bodies)
    assert len({body["access_token"] for body in bodies}) == 3
    assert server.stats.refreshes == 3 and server.stats.revoked_grants == 0


def test_client_credentials_basic_or_form_and_wrong_ones_are_invalid_client(
    server: StandinServer, client: httpx.Client
) -> None:
    token = make_tokens(1)[0]
    server.add_grant(token)
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    for auth in [(CLIENT_ID, "nope"), None, ("other", CLIENT_SECRET)]:
        response = refresh(client, token, auth=auth)
        assert response.status_code == 401 and response.json() == {"error": "invalid_client"}
    # A rejected client never touches the grant.
    assert server.current_refresh_token(token) == token
    assert refresh(client, token, auth=None, data=form).status_code == 200
    rotated = server.current_refresh_token(token)
    assert rotated is not None and refresh(client, rotated).status_code == 200
    assert server.stats.invalid_client == 3 and server.stats.refreshes == 2


def test_fail_fraction_answers_503_html_deterministically() -> None:
    (token,) = make_tokens(1)
    with run_in_thread(delay=0, rotate=False, fail_fraction=0.3, seed=11) as server:
        server.add_grant(token)
        with httpx.Client(base_url=server.url) as client:
            responses = [refresh(client, token) for _ in range(60)]
    expected = random.Random(11)
    assert [r.status_code for r in responses] == [
        503 if expected.random() < 0.3 else 200 for _ in range(60)
    ]
    failed = [r for r in responses if r.status_code == 503]
    assert 5 < len(failed) < 40
    assert failed[0].headers["content-type"].startswith("text/html")
    assert server.stats.failures_injected == len(failed)
    assert server.stats.refreshes == 60 - len(failed)


def test_delayed_requests_overlap() -> None:
    tokens = make_tokens(20)

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, auth=AUTH, timeout=10) as client:
            requests = [
                client.post("/token", data={"grant_type": "refresh_token", "refresh_token": t})
                for t in tokens
            ]
            return [r.status_code for r in await asyncio.gather(*requests)]

    with run_in_thread(delay=0.2) as server:
        server.add_grants(tokens)
        statuses = asyncio.run(burst(server.url))
    assert statuses == [200] * 20
    assert server.stats.max_in_flight == 20 and server.stats.in_flight == 0


def test_concurrent_refreshes_of_one_token_revoke_the_grant() -> None:
    (token,) = make_tokens(1)

    async def race(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, auth=AUTH) as client:
            data = {"grant_type": "refresh_token", "refresh_token": token}
            return list(await asyncio.gather(*(client.post("/token", data=data) for _ in range(2))))

    with run_in_thread(delay=0.05) as server:
        server.add_grant(token)
        responses = asyncio.run(race(server.url))
    assert sorted(r.status_code for r in responses) == [200, 400]
    assert server.stats.reused_tokens == 1 and server.current_refresh_token(token) is None


def test_github_events_etag_gives_304(server: StandinServer, client: httpx.Client) -> None:
    token = bearer("bench-at-alice")
    login = client.get("/github/user", headers=token).json()["login"]
    first = client.get(f"/github/users/{login}/events", params={"per_page": 100}, headers=token)
    assert first.status_code == 200 and first.headers["x-poll-interval"] == "60"
    events = first.json()
    assert len(events) == 25 and events[0]["actor"]["login"] == login
    assert [int(e["id"]) for e in events] == sorted((int(e["id"]) for e in events), reverse=True)
    etag = first.headers["etag"]

    again = client.get(
        f"/github/users/{login}/events",
        params={"per_page": 100},
        headers={**token, "If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(
        f"/github/users/{login}/events", headers={**token, "If-None-Match": 'W/"stale"'}
    )
    assert other.status_code == 200 and other.json() == events
    assert server.stats.not_modified == 1


def test_github_repos_link_pages_cover_every_repo_once(
    server: StandinServer, client: httpx.Client
) -> None:
    token = bearer("bench-at-bob")
    url: str | None = f"{server.url}/github/user/repos?per_page=10&sort=updated"
    ids: list[int] = []
    pages: list[httpx.Response] = []
    while url:
        response = client.get(url, headers=token)
        assert response.status_code == 200
        pages.append(response)
        ids += [repo["id"] for repo in response.json()]
        url = response.links.get("next", {}).get("url")
    assert len(pages) == 6 and len(ids) == 60 == len(set(ids))
    assert set(pages[0].links) == {"next", "last"}
    assert set(pages[2].links) == {"first", "prev", "next", "last"}
    assert set(pages[-1].links) == {"first", "prev"}
    assert "sort=updated" in pages[0].links["next"]["url"]


def test_spotify_recently_played_cursor_pages(client: httpx.Client) -> None:
    token = bearer("bench-at-carol")
    path = "/spotify/v1/me/player/recently-played"
    first = client.get(path, params={"limit": 50}, headers=token).json()
    assert first["limit"] == 25 and len(first["items"]) == 25
    newest = first["cursors"]["after"]
    played: list[str] = []
    page: dict[str, Any] = first
    while True:
        played += [item["played_at"] for item in page["items"]]
        assert {"track", "played_at", "context"} <= set(page["items"][0])
        if not page["next"]:
            break
        page = client.get(page["next"], headers=token).json()
    assert len(played) == 60 == len(set(played)) and played == sorted(played, reverse=True)

    assert client.get(path, params={"after": newest}, headers=token).json()["items"] == []
    # From an older cursor, forward pages bring exactly the newer plays.
    older = first["items"][-1]["played_at"]
    cursor = first["cursors"]["before"]
    forward: list[str] = []
    page = client.get(path, params={"after": cursor, "limit": 10}, headers=token).json()
    while True:
        forward += [item["played_at"] for item in page["items"]]
        if not page["next"]:
            break
        page = client.get(page["next"], headers=token).json()
    assert sorted(forward, reverse=True) == played[:24] and older not in forward
    bad = client.get(path, params={"after": "yesterday"}, headers=token)
    assert bad.status_code == 400 and bad.json()["error"]["status"] == 400


def test_data_is_deterministic_per_user_and_differs_between_users(
    server: StandinServer, client: httpx.Client
) -> None:
    (grant,) = make_tokens(1)
    server.add_grant(grant)
    path = "/spotify/v1/me/top/tracks"
    tokens = [refresh(client, grant).json()["access_token"]]
    tokens.append(refresh(client, server.current_refresh_token(grant) or "").json()["access_token"])
    same = [client.get(path, params={"limit": 50}, headers=bearer(t)).json() for t in tokens]
    assert same[0] == same[1] and same[0]["total"] == 60 and same[0]["next"]
    other = client.get(path, params={"limit": 50}, headers=bearer("bench-at-dave")).json()
    assert [t["id"] for t in other["items"]] != [t["id"] for t in same[0]["items"]]
    with run_in_thread(delay=0, access_prefix="bench-at-", items=60, page_size=25) as second:
        again = httpx.get(
            f"{second.url}/discord/api/v10/users/@me/guilds", headers=bearer("bench-at-dave")
        )
    guilds = client.get("/discord/api/v10/users/@me/guilds", headers=bearer("bench-at-dave"))
    assert again.json() == guilds.json() and len(guilds.json()) == 60
    assert {"id", "name", "icon", "banner", "owner", "permissions", "features"} <= set(
        guilds.json()[0]
    )


def test_api_auth_rejects_unknown_and_expired_tokens() -> None:
    (grant,) = make_tokens(1)
    with run_in_thread(delay=0, expires_in=0, access_prefix="bench-at-") as server:
        server.add_grant(grant)
        with httpx.Client(base_url=server.url) as client:
            issued = refresh(client, grant).json()["access_token"]
            path = "/spotify/v1/me/top/tracks"
            expired = client.get(path, headers=bearer(issued))
            unknown = client.get(path, headers=bearer("someone-else"))
            discord = client.get("/discord/api/v10/users/@me/guilds")
            prefixed = client.get(path, headers=bearer("bench-at-erin"))
    assert expired.status_code == 401
    assert expired.json()["error"]["message"] == "The access token expired"
    assert unknown.status_code == 401 and unknown.json()["error"]["status"] == 401
    assert discord.status_code == 401 and discord.json() == {
        "message": "401: Unauthorized",
        "code": 0,
    }
    assert prefixed.status_code == 200
    assert server.stats.api_unauthorized == 3


def test_async_with_in_a_running_loop_and_admin_grants_over_http() -> None:
    tokens = make_tokens(3)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        async with StandinServer(delay=0) as server, httpx.AsyncClient(auth=AUTH) as client:
            seeded = (await client.post(f"{server.url}/admin/grants", json=tokens)).json()
            data = {"grant_type": "refresh_token", "refresh_token": tokens[1]}
            status = (await client.post(f"{server.url}/token", data=data)).status_code
            return seeded, (await client.get(f"{server.url}/admin/grants")).json(), status

    seeded, grants, status = asyncio.run(scenario())
    assert seeded == {"grants": 3} and status == 200
    assert grants[tokens[0]] == {"current": tokens[0], "revoked": False, "refreshes": 0}
    assert grants[tokens[1]]["refreshes"] == 1 and grants[tokens[1]]["current"] != tokens[1]


def test_cli_flags_round_trip_every_option() -> None:
    options: dict[str, Any] = {
        "delay": 0.0,
        "rotate": False,
        "client_id": None,
        "access_prefix": "x-",
        "items": 7,
    }
    parsed = vars(parser().parse_args(cli_args(**options)))
    parsed.pop("grants"), parsed.pop("grants_file")
    assert Options(**parsed) == Options(**options)
    with pytest.raises(TypeError):
        cli_args(colour="blue")


@pytest.mark.slow
def test_run_in_process_serves_and_counts() -> None:
    tokens = make_tokens(5)
    with run_in_process(delay=0, grants=5) as remote:
        assert remote.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=remote.url) as client:
            assert refresh(client, tokens[4]).status_code == 200
            assert refresh(client, tokens[4]).json() == INVALID_GRANT
        assert remote.add_grants(["extra"]) == 6
        stats = remote.stats()
        assert stats["refreshes"] == 1 and stats["reused_tokens"] == 1 and stats["grants"] == 6
        assert remote.grants()[tokens[4]]["revoked"] is True


@pytest.mark.slow
def test_module_prints_its_url_and_stops_on_sigterm() -> None:
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.standins", "--port", "0", "--delay", "0", "--no-rotate"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline())["url"]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/stats", timeout=10).json()["requests"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize("user", [1, 42, 2**32])
def test_fast_json_equals_the_object_builders(user: int) -> None:
    repos = json.loads(shapes.github_json("repo", user, range(12)))
    assert repos == [shapes.github_repo(user, i) for i in range(12)]
    events = json.loads(shapes.github_json("event", user, range(300)))
    assert events == [shapes.github_event(user, i) for i in range(300)]
    assert len({e["id"] for e in events}) == 300
    assert json.loads(shapes.spotify_play_json(user, 7)) == shapes.spotify_play(user, 7)

"""The loopback provider stand-in (tests/support/provider.py), served in this process: strict
rotation, seeded failures, the delay, the API pages. As a process of its own:
tests/process/test_provider_process.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from tests.support.provider import CLIENT_ID, CLIENT_SECRET, Provider, start

AUTH = (CLIENT_ID, CLIENT_SECRET)
T = TypeVar("T")
Scenario = Callable[[Provider, httpx.AsyncClient], Awaitable[T]]


@contextlib.asynccontextmanager
async def serving(provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    """The provider on a free loopback port of this loop, and a client for it."""
    runner, url = await start(provider)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield client
    finally:
        await runner.cleanup()


def run(scenario: Scenario[T], **options: Any) -> tuple[Provider, T]:
    """Run scenario(provider, client) against a Provider(delay=0, **options)."""
    provider = Provider(**{"delay": 0.0, **options})

    async def main() -> T:
        async with serving(provider) as client:
            return await scenario(provider, client)

    return provider, asyncio.run(main())


async def refresh(client: httpx.AsyncClient, token: str, **kwargs: Any) -> httpx.Response:
    """One refresh request, with Basic client authentication unless told otherwise."""
    kwargs.setdefault("auth", AUTH)
    data = {"grant_type": "refresh_token", "refresh_token": token, **kwargs.pop("data", {})}
    return await client.post("/token", data=data, **kwargs)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def test_a_spent_refresh_token_revokes_the_grant_and_is_counted() -> None:
    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[httpx.Response]:
        provider.add_grant("rt-a")
        provider.add_grant("rt-b")
        first = await refresh(client, "rt-a")
        second = await refresh(client, first.json()["refresh_token"])
        reused = await refresh(client, "rt-a")
        newest = await refresh(client, second.json()["refresh_token"])
        reused_again = await refresh(client, "rt-a")
        other = await refresh(client, "rt-b")
        return [first, second, reused, newest, reused_again, other]

    provider, (first, second, reused, newest, reused_again, other) = run(scenario)
    body = first.json()
    assert first.status_code == 200 and body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and body["refresh_token"] != "rt-a"
    assert second.status_code == 200
    assert second.json()["refresh_token"] not in ("rt-a", body["refresh_token"])
    # The spent token comes back: refused, and the whole grant goes, its newest token too.
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    assert reused_again.status_code == 400
    # Another user's grant is untouched.
    assert other.status_code == 200
    stats = provider.stats
    assert (stats.requests, stats.refreshes, stats.invalid_grant) == (6, 3, 3)
    assert stats.reused_tokens == 2 and stats.revoked_grants == 1


def test_an_unknown_token_is_invalid_grant_and_revokes_nothing() -> None:
    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[int]:
        provider.add_grant("rt-a")
        return [(await refresh(client, t)).status_code for t in ("never-issued", "rt-a")]

    provider, statuses = run(scenario)
    assert statuses == [400, 200]
    assert provider.stats.invalid_grant == 1 and provider.stats.revoked_grants == 0


def test_without_rotation_the_refresh_token_stays() -> None:
    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        provider.add_grant("rt-a")
        return [(await refresh(client, "rt-a")).json() for _ in range(3)]

    provider, bodies = run(scenario, rotate=False)
    assert all("refresh_token" not in body for body in bodies)
    assert len({body["access_token"] for body in bodies}) == 3
    assert provider.stats.refreshes == 3 and provider.stats.revoked_grants == 0


def test_client_authentication_basic_or_form_and_wrong_ones_are_counted() -> None:
    # tokensync form-urlencodes both parts before the Basic encoding (RFC 6749 2.3.1).
    quoted = base64.b64encode(b"bench%2Dclient:bench%2Dsecret").decode()

    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[int]:
        provider.add_grant("rt-a")
        statuses = [
            (await refresh(client, "rt-a", auth=auth)).status_code
            for auth in [(CLIENT_ID, "nope"), None, ("other", CLIENT_SECRET)]
        ]
        broken = {"Authorization": "Basic %%%not-base64"}
        statuses.append((await refresh(client, "rt-a", auth=None, headers=broken)).status_code)
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        body = (await refresh(client, "rt-a", auth=None, data=form)).json()
        rotated = {"Authorization": f"Basic {quoted}"}
        statuses.append(
            (await refresh(client, body["refresh_token"], auth=None, headers=rotated)).status_code
        )
        return statuses

    provider, statuses = run(scenario)
    # A refused client never spends the token: the form request after them still refreshes.
    assert statuses == [401, 401, 401, 401, 200]
    assert provider.stats.invalid_client == 4 and provider.stats.refreshes == 2


def test_a_seeded_fail_fraction_fails_the_same_token_requests_every_run() -> None:
    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[httpx.Response]:
        provider.add_grant("rt-a")
        return [await refresh(client, "rt-a") for _ in range(60)]

    provider, responses = run(scenario, rotate=False, fail_fraction=0.3, seed=11)
    statuses = [r.status_code for r in responses]
    expected = random.Random(11)
    assert statuses == [503 if expected.random() < 0.3 else 200 for _ in range(60)]
    failed = statuses.count(503)
    assert 5 < failed < 40
    assert responses[statuses.index(503)].headers["content-type"].startswith("text/html")
    assert provider.stats.failures_injected == failed
    assert provider.stats.refreshes == 60 - failed and provider.stats.requests == 60
    _, again = run(scenario, rotate=False, fail_fraction=0.3, seed=11)
    assert [r.status_code for r in again] == statuses
    _, other_seed = run(scenario, rotate=False, fail_fraction=0.3, seed=12)
    assert [r.status_code for r in other_seed] != statuses


def test_the_api_fail_fraction_is_separate_and_seeded() -> None:
    path = "/discord/api/v10/users/@me/guilds"

    async def api_only(provider: Provider, client: httpx.AsyncClient) -> list[int]:
        return [
            (await client.get(path, headers=bearer("bench-at-1-0"))).status_code for _ in range(40)
        ]

    async def interleaved(provider: Provider, client: httpx.AsyncClient) -> list[int]:
        provider.add_grant("rt-a")
        statuses = []
        for _ in range(40):
            await refresh(client, "rt-a")
            statuses.append((await client.get(path, headers=bearer("bench-at-1-0"))).status_code)
        return statuses

    provider, statuses = run(api_only, api_fail_fraction=0.5, seed=3)
    failed = statuses.count(503)
    assert 5 < failed < 35 and set(statuses) == {200, 503}
    assert provider.stats.api_failures_injected == failed and provider.stats.api_requests == 40
    assert provider.stats.failures_injected == 0
    # Token requests, failing or not, draw from their own generator: the API sequence stays.
    mixed, same = run(interleaved, rotate=False, fail_fraction=0.5, api_fail_fraction=0.5, seed=3)
    assert same == statuses
    assert mixed.stats.failures_injected > 0
    assert mixed.stats.failures_injected + mixed.stats.refreshes == 40


def test_the_delay_is_applied_to_tokens_and_apis_and_requests_overlap() -> None:
    async def scenario(provider: Provider, client: httpx.AsyncClient) -> tuple[float, float]:
        provider.add_grant("rt-a")
        started = time.perf_counter()
        assert (await refresh(client, "rt-a")).status_code == 200
        token_took = time.perf_counter() - started
        started = time.perf_counter()
        assert (await client.get("/github/user", headers=bearer("bench-at-1-0"))).is_success
        api_took = time.perf_counter() - started
        for n in range(10):
            provider.add_grant(f"rt-{n}")
        burst = [refresh(client, f"rt-{n}") for n in range(10)]
        assert [r.status_code for r in await asyncio.gather(*burst)] == [200] * 10
        return token_took, api_took

    provider, (token_took, api_took) = run(scenario, delay=0.3)
    assert token_took >= 0.3 and api_took >= 0.3
    # The delay is a wait, not work: the ten requests were all in flight at once.
    assert provider.stats.max_in_flight == 10 and provider.stats.in_flight == 0


def test_api_pages_have_the_platforms_shapes() -> None:
    async def scenario(provider: Provider, client: httpx.AsyncClient) -> dict[str, Any]:
        provider.add_grant("rt-a")
        token = bearer((await refresh(client, "rt-a")).json()["access_token"])
        paths = {
            "played": "/spotify/v1/me/player/recently-played?limit=50",
            "top": "/spotify/v1/me/top/tracks",
            "user": "/github/user",
            "events": "/github/users/user1/events?per_page=100",
            "repos": "/github/user/repos?per_page=100",
            "guilds": "/discord/api/v10/users/@me/guilds?limit=200",
        }
        pages = {name: await client.get(path, headers=token) for name, path in paths.items()}
        pages["anonymous"] = await client.get(paths["guilds"])
        pages["stranger"] = await client.get(paths["top"], headers=bearer("someone-else"))
        return pages

    provider, pages = run(scenario, page_size=7)
    played = pages["played"].json()
    assert {"href", "limit", "next", "cursors", "total", "items"} <= set(played)
    assert len(played["items"]) == 7 and played["cursors"]["after"].isdigit()
    assert {"track", "played_at", "context"} <= set(played["items"][0])
    assert played["items"][0]["track"]["type"] == "track"
    top = pages["top"].json()
    assert top["total"] == 7 and top["next"] is None and len(top["items"]) == 7
    assert len({track["id"] for track in top["items"]}) == 7
    assert pages["user"].json()["login"] == "user1"  # the grant's number
    events = pages["events"].json()
    assert pages["events"].headers["x-poll-interval"] == "60"
    assert len(events) == 7 and {"id", "type", "actor", "repo", "payload"} <= set(events[0])
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7
    repos = pages["repos"].json()
    assert len(repos) == 10 and {"id", "full_name", "owner"} <= set(repos[0])
    assert "link" not in pages["repos"].headers
    guilds = pages["guilds"].json()
    assert guilds and {"id", "name", "owner", "permissions", "features"} <= set(guilds[0])
    assert pages["anonymous"].status_code == 401
    assert pages["anonymous"].json() == {"message": "401: Unauthorized", "code": 0}
    assert pages["stranger"].status_code == 401
    assert provider.stats.api_unauthorized == 2 and provider.stats.api_requests == 8


def test_github_events_answer_304_to_their_etag() -> None:
    path = "/github/users/user5/events?per_page=100"

    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[httpx.Response]:
        first = await client.get(path, headers=bearer("bench-at-5-0"))
        etag = first.headers["etag"]
        again = await client.get(path, headers={**bearer("bench-at-5-0"), "If-None-Match": etag})
        stale = {**bearer("bench-at-5-0"), "If-None-Match": 'W/"stale"'}
        other = await client.get(path, headers=stale)
        return [first, again, other]

    provider, (first, again, other) = run(scenario)
    assert first.status_code == 200 and len(first.json()) == 50
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-poll-interval"] == "60"
    assert other.status_code == 200 and other.json() == first.json()
    assert provider.stats.not_modified == 1


def test_github_link_pages_cover_every_item_once() -> None:
    async def walk(client: httpx.AsyncClient, url: str | None) -> list[httpx.Response]:
        pages = []
        while url:
            pages.append(await client.get(url, headers=bearer("bench-at-2-0")))
            assert pages[-1].status_code == 200
            url = pages[-1].links.get("next", {}).get("url")
        return pages

    async def scenario(provider: Provider, client: httpx.AsyncClient) -> list[list[httpx.Response]]:
        base = str(client.base_url)
        return [
            await walk(client, f"{base}/github/user/repos?per_page=3&sort=updated"),
            await walk(client, f"{base}/github/users/user2/events?per_page=20"),
        ]

    _, (repos, events) = run(scenario, page_size=50)
    assert len(repos) == 4
    ids = [repo["id"] for page in repos for repo in page.json()]
    assert len(ids) == 10 == len(set(ids))
    assert set(repos[0].links) == {"next", "last"}
    assert set(repos[1].links) == {"first", "prev", "next", "last"}
    assert set(repos[-1].links) == {"first", "prev"}
    assert "sort=updated" in repos[0].links["next"]["url"]
    assert [len(page.json()) for page in events] == [20, 20, 10]
    event_ids = [int(e["id"]) for page in events for e in page.json()]
    assert event_ids == sorted(set(event_ids), reverse=True) and len(event_ids) == 50
    assert len({page.headers["etag"] for page in events}) == 3

"""GitHub: events (ETag, X-Poll-Interval, Link pages, resumable walks) and repositories."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
import respx

from tests.platforms.support import (
    NOW,
    Sleeps,
    api,
    collect,
    collect_until,
    context,
    keys,
    last_state,
)
from tests.support import payloads as p
from tokensync.errors import MalformedResponseError, RateLimitedError
from tokensync.platforms.endpoint import SyncState, Walk
from tokensync.platforms.github import Events, Repos

pytestmark = pytest.mark.anyio
EVENTS = f"{p.GITHUB}/users/octocat/events"
PAGED = f"{p.GITHUB}/user/583231/events"
KNOWN_LOGIN = SyncState(extra={"login": "octocat"})
SNAPSHOT = "absent_from_snapshot"
REPOS_PARAMS = {"per_page": "100", "sort": "created", "direction": "asc"}


def link(page: int) -> str:
    return f'<{PAGED}?per_page=100&page={page}>; rel="next", <{PAGED}?page=3>; rel="last"'


async def test_events_first_poll_etag_poll_interval_and_link_pages(
    router: respx.MockRouter,
) -> None:
    user = router.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    events = router.get(EVENTS, params={"per_page": "100"}).respond(
        200,
        json=[p.github_event(1), p.github_event(2)],
        headers={"ETag": 'W/"e1"', "X-Poll-Interval": "60", "Link": link(2)},
    )
    router.get(PAGED, params={"page": "2"}).respond(200, json=[p.github_event(3)])
    batches = await collect(Events(), api(p.GITHUB))
    assert keys(batches) == [p.github_event(i)["id"] for i in (1, 2, 3)]
    assert "If-None-Match" not in events.calls[0].request.headers
    # The new ETag is stored with the first page; nothing is left to resume.
    assert [b.state.etag for b in batches] == ['W/"e1"', 'W/"e1"']
    assert batches[0].state.extra["next"].endswith("page=2")
    state = last_state(batches)
    assert "next" not in state.extra and state.extra["login"] == "octocat"
    assert state.extra["notBefore"] == (NOW + timedelta(seconds=60)).isoformat()
    # Polled again too early: X-Poll-Interval is obeyed without a request.
    early = await collect(Events(), api(p.GITHUB), state, context(now=NOW))
    assert len(early) == 1 and keys(early) == [] and early[0].state == state
    assert events.call_count == 1 and user.call_count == 1


async def test_events_304_costs_nothing_and_keeps_the_etag(router: respx.MockRouter) -> None:
    route = router.get(EVENTS, headers={"If-None-Match": 'W/"e1"'}).respond(
        304, headers={"X-Poll-Interval": "120"}
    )
    state = SyncState(etag='W/"e1"', extra={"login": "octocat", "notBefore": NOW.isoformat()})
    batches = await collect(Events(), api(p.GITHUB), state, context(now=NOW))
    assert len(batches) == 1 and keys(batches) == [] and route.called
    assert last_state(batches).etag == 'W/"e1"'
    assert last_state(batches).extra["notBefore"] == (NOW + timedelta(seconds=120)).isoformat()


async def test_events_stop_at_a_page_with_a_known_event(router: respx.MockRouter) -> None:
    router.get(EVENTS, headers={"If-None-Match": '"e1"'}).respond(
        200,
        json=[p.github_event(5), p.github_event(4)],
        headers={"ETag": '"e2"', "Link": link(2)},
    )
    known = {p.github_event(4)["id"]}
    batches = await collect(
        Events(), api(p.GITHUB), SyncState(etag='"e1"', extra={"login": "octocat"}), context(known)
    )
    assert len(batches) == 1 and len(keys(batches)) == 2
    assert last_state(batches) == SyncState(etag='"e2"', extra={"login": "octocat"})


async def test_a_bounded_walk_resumes_after_a_304(router: respx.MockRouter) -> None:
    top = router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(
                200, json=[p.github_event(1)], headers={"ETag": '"e1"', "Link": link(2)}
            ),
            httpx.Response(304),
        ]
    )
    router.get(PAGED, params={"page": "2"}).respond(200, json=[p.github_event(2)])
    first = await collect(Events(), api(p.GITHUB), KNOWN_LOGIN, context(max_pages=1))
    state = last_state(first)
    assert keys(first) == [p.github_event(1)["id"]] and state.etag == '"e1"'
    assert state.extra["next"] == f"{PAGED}?per_page=100&page=2"
    second = await collect(Events(), api(p.GITHUB), state, context(max_pages=1))
    assert top.calls[1].request.headers["If-None-Match"] == '"e1"'
    assert keys(second) == [p.github_event(2)["id"]]
    assert last_state(second) == SyncState(etag='"e1"', extra={"login": "octocat"})


async def test_a_renamed_user_is_looked_up_again(router: respx.MockRouter) -> None:
    router.get(f"{p.GITHUB}/users/oldname/events").respond(404, json={"message": "Not Found"})
    router.get(f"{p.GITHUB}/user").respond(200, json=p.github_user())
    router.get(EVENTS).respond(200, json=[p.github_event(1)], headers={"ETag": '"e1"'})
    batches = await collect(Events(), api(p.GITHUB), SyncState(extra={"login": "oldname"}))
    assert keys(batches) == [p.github_event(1)["id"]]
    assert last_state(batches).extra["login"] == "octocat"


async def test_a_login_that_is_not_a_login_is_not_put_in_a_path(router: respx.MockRouter) -> None:
    router.get(f"{p.GITHUB}/user").respond(200, json=p.github_user("../../repos/x"))
    batches, error = await collect_until(Events(), api(p.GITHUB))
    assert isinstance(error, MalformedResponseError) and "login" in str(error)
    assert batches == []


async def test_an_event_page_that_is_not_a_list(router: respx.MockRouter) -> None:
    router.get(EVENTS).respond(200, json={"message": "Moved Permanently"})
    batches, error = await collect_until(Events(), api(p.GITHUB), KNOWN_LOGIN)
    assert isinstance(error, MalformedResponseError) and "github events" in str(error)
    assert batches == []


async def test_primary_rate_limit_short_is_slept_long_is_raised(router: respx.MockRouter) -> None:
    now = int(time.time())
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "5000"}
    router.get(EVENTS).mock(
        side_effect=[
            httpx.Response(
                403,
                headers={**exhausted, "x-ratelimit-reset": str(now + 5)},
                json={"message": "API rate limit exceeded for user ID 583231."},
            ),
            httpx.Response(200, json=[], headers={"ETag": '"e0"'}),
            httpx.Response(
                429,
                headers={**exhausted, "x-ratelimit-reset": str(now + 1800)},
                json={"message": "API rate limit exceeded for user ID 583231."},
            ),
        ]
    )
    sleeps = Sleeps()
    batches = await collect(Events(), api(p.GITHUB, sleeps=sleeps), KNOWN_LOGIN)
    assert keys(batches) == [] and len(sleeps) == 1 and 0 < sleeps[0] <= 5
    batches, error = await collect_until(Events(), api(p.GITHUB, sleeps=sleeps), KNOWN_LOGIN)
    assert isinstance(error, RateLimitedError) and batches == [] and len(sleeps) == 1
    assert error.retry_after is not None and 1700 < error.retry_after <= 1800


async def test_repos_follow_link_pages(router: respx.MockRouter) -> None:
    page2 = f"{p.GITHUB}/user/repos?per_page=100&sort=created&direction=asc&page=2"
    router.get(f"{p.GITHUB}/user/repos", params=REPOS_PARAMS).mock(
        side_effect=[
            httpx.Response(
                200, json=[p.github_repo(1)], headers={"Link": f'<{page2}>; rel="next"'}
            ),
            httpx.Response(200, json=[p.github_repo(2)]),
        ]
    )
    batches = await collect(Repos(), api(p.GITHUB))
    assert keys(batches) == ["1296270", "1296271"] and last_state(batches) == SyncState()
    assert [b.walk for b in batches] == [Walk(SNAPSHOT, begins=True), Walk(SNAPSHOT, ends=True)]


async def test_repos_cut_short_resume_at_the_next_link(router: respx.MockRouter) -> None:
    page2 = f"{p.GITHUB}/user/repos?per_page=100&sort=created&direction=asc&page=2"
    route = router.get(f"{p.GITHUB}/user/repos").mock(
        side_effect=[
            httpx.Response(
                200, json=[p.github_repo(1)], headers={"Link": f'<{page2}>; rel="next"'}
            ),
            httpx.Response(200, json=[p.github_repo(2)]),
        ]
    )
    first = await collect(Repos(), api(p.GITHUB), ctx=context(max_pages=1))
    assert keys(first) == ["1296270"] and last_state(first).extra == {"next": page2}
    assert [b.walk for b in first] == [Walk(SNAPSHOT, begins=True)], "cut short: no end"
    second = await collect(Repos(), api(p.GITHUB), last_state(first), context(max_pages=1))
    assert route.calls[1].request.url.params["page"] == "2"
    assert keys(second) == ["1296271"] and last_state(second) == SyncState()
    assert [b.walk for b in second] == [Walk(SNAPSHOT, ends=True)], "carried on, not begun"


async def test_a_repo_whose_id_is_not_a_number_or_string(router: respx.MockRouter) -> None:
    repo = p.github_repo(1)
    repo["id"] = {"value": 1}
    router.get(f"{p.GITHUB}/user/repos").respond(200, json=[p.github_repo(0), repo])
    batches, error = await collect_until(Repos(), api(p.GITHUB))
    assert isinstance(error, MalformedResponseError) and "'id'" in str(error)
    assert batches == []

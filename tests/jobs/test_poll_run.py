"""run_poll called directly: a mock transport, a SQLite file, a fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx

from tests.jobs.harness import HANG, Handler, Job, json_response, make_job, token_response
from tests.support import payloads as p
from tests.support.support import START, stored_items
from tokensync.jobs.options import PollOptions
from tokensync.jobs.poll_platforms import run_poll
from tokensync.jobs.results import PollResult

OPTIONS = PollOptions(concurrency=16)
PLAYS = [(1, "2026-12-01T11:00:00.000Z"), (2, "2026-12-01T10:55:00.000Z")]


async def poll(job: Job, handler: Handler) -> PollResult:
    """One run of the poll job."""
    async with job.deps(handler) as deps:
        # A bound, so that a job that hangs fails its test instead of holding the suite.
        return await asyncio.wait_for(run_poll(deps, OPTIONS), HANG)


def spotify(request: httpx.Request, token: str = "AT-spotify-u1") -> httpx.Response:
    """Spotify's two endpoints, for a request that carries `token`."""
    if request.headers["Authorization"] != f"Bearer {token}":
        return json_response(401, {"error": {"status": 401, "message": "The access token expired"}})
    if request.url.path.endswith("/me/player/recently-played"):
        return json_response(200, p.spotify_recently_played(PLAYS, after="1764586800000"))
    assert request.url.path.endswith("/me/top/tracks"), request.url
    return json_response(200, p.spotify_top_tracks([1, 2, 3]))


def test_a_run_polls_a_connection_once_however_short_the_interval(tmp_path: Path) -> None:
    # poll_interval 0: the connection is due again the moment its poll ends. The run must not
    # claim it again (it would loop for as long as it ran).
    job = make_job(tmp_path, 'poll_interval = "0s"\nbatch_size = 1\n')
    job.add("u1", "spotify", expires_in=3600)
    polls = 0

    async def api(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        polls += "top/tracks" in request.url.path
        await job.clock.sleep(0.5)  # time passes during the poll
        return spotify(request)

    result = asyncio.run(poll(job, api))

    assert (result.connections, polls) == (1, 1)


def test_a_poll_stores_items_and_carries_on_from_its_cursor(tmp_path: Path) -> None:
    job = make_job(tmp_path, 'poll_interval = "0s"\n')
    job.add("u1", "spotify", expires_in=3600)
    afters: list[str | None] = []

    async def api(request: httpx.Request) -> httpx.Response:
        if "recently-played" in request.url.path:
            afters.append(request.url.params.get("after"))
        return spotify(request)

    first = asyncio.run(poll(job, api))
    asyncio.run(job.clock.sleep(1))  # poll_interval 0: due again once time has moved on
    second = asyncio.run(poll(job, api))

    assert (first.successful, first.fetched, first.stored) == (1, 5, 5)
    assert (second.successful, second.stored) == (1, 0), "nothing new, nothing changed"
    assert afters == [None, "1764586800000"]
    assert stored_items(job.url, "u1", "spotify") == {"recently_played": 2, "top_tracks": 3}
    assert job.connection("u1", "spotify").last_sync_at == START + timedelta(seconds=1)


def test_a_token_about_to_expire_is_refreshed_inside_the_polls_platform_slot(
    tmp_path: Path,
) -> None:
    # One request at a time for Spotify: the refresh is one of the poll's requests, under the
    # slot the poll holds (a second slot would wait forever behind the first).
    job = make_job(tmp_path, "[platforms.spotify]\nconcurrency = 1\n")
    job.add("u1", "spotify", expires_in=30)
    sent: list[str] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.host == "accounts.spotify.com":
            return token_response("AT-2", expires_in=3600)
        return spotify(request, token="AT-2")

    result = asyncio.run(poll(job, provider))

    assert result.successful == 1 and result.stored == 5
    assert sent[0] == "/api/token" and len(sent) == 3
    assert job.tokens("u1", "spotify") == ("AT-2", "RT-spotify-u1")


def test_an_api_rate_limit_is_slept_on_the_clock(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "spotify", expires_in=3600)
    limited = iter([True])

    async def api(request: httpx.Request) -> httpx.Response:
        if next(limited, False):
            return json_response(429, {"error": {"status": 429}}, {"Retry-After": "3"})
        return spotify(request)

    result = asyncio.run(poll(job, api))

    assert result.successful == 1
    assert job.clock.slept == [3.0]

"""get_token called directly: waiting for another holder of the lease, on a fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.jobs.harness import HANG, Job, TimedClock, hold_lease, make_job, store_refreshed
from tokensync.connections.fresh_token import AccessToken, get_token
from tokensync.refresh.refresher import Refresher
from tokensync.refresh.token_source import ConnectionTokens, TokenUnavailableError
from tokensync.runtime.stop import StopSignal


async def no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent: {request.method} {request.url}")


async def get(job: Job, **kw: object) -> AccessToken:
    async with job.deps(no_request) as deps:
        stop = StopSignal(deps.clock, None)
        return await asyncio.wait_for(get_token(deps, stop, "u1", "discord", **kw), HANG)  # type: ignore[arg-type]


def test_a_caller_waits_for_the_lease_holder_and_returns_what_it_stored(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.clock = TimedClock(1.0, lambda: store_refreshed(job, "other-run", "AT-2", "RT-2"))
    job.add("u1", "discord", expires_in=60)
    hold_lease(job, "other-run")

    token = asyncio.run(get(job))

    assert (token.access_token, token.refreshed) == ("AT-2", False)
    assert token.expires_at == job.clock.now() + timedelta(days=7), "stored when it was seen"
    assert 1.0 <= job.clock.elapsed < 2.0, "it looked again every quarter second"
    assert job.connection("u1", "discord").lease_owner is None


def test_a_holder_that_keeps_the_lease_past_the_request_timeout_gives_busy(
    tmp_path: Path,
) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord", expires_in=60)
    hold_lease(job, "stuck-run")

    with pytest.raises(TokenUnavailableError) as info:
        asyncio.run(get(job))

    assert info.value.code == "busy"
    assert job.settings.request_timeout <= job.clock.elapsed < job.settings.request_timeout + 1
    assert job.tokens("u1", "discord") == ("AT-discord-u1", "RT-discord-u1"), "untouched"
    assert job.connection("u1", "discord").lease_owner == "stuck-run"


def test_a_row_refreshed_between_the_read_and_the_claim_is_not_refreshed_again(
    tmp_path: Path,
) -> None:
    """The lease is free when claimed, but another process refreshed since the row was read:
    its token is used, and no refresh token is presented."""
    job = make_job(tmp_path)
    job.add("u1", "discord", expires_in=60)
    read = job.connection("u1", "discord")
    hold_lease(job, "other-run")
    store_refreshed(job, "other-run", "AT-2", "RT-2")

    async def main() -> str:
        async with job.deps(no_request) as deps:
            tokens = ConnectionTokens(read, deps, Refresher(deps, StopSignal(deps.clock, None)))
            token = await tokens.access_token()
            assert tokens.refreshed and not tokens.issued_here
            return token

    assert asyncio.run(main()) == "AT-2"
    assert job.clock.elapsed == 0 and job.connection("u1", "discord").lease_owner is None


def test_a_stop_ends_the_wait_at_once(tmp_path: Path) -> None:
    """SIGTERM while waiting for another holder: the caller gives up now, not at the timeout."""
    job = make_job(tmp_path)
    stops: list[StopSignal] = []
    job.clock = TimedClock(1.0, lambda: stops[0].set("sigterm"))
    job.add("u1", "discord", expires_in=60)
    hold_lease(job, "stuck-run")

    async def main() -> AccessToken:
        async with job.deps(no_request) as deps:
            stops.append(StopSignal(deps.clock, None))
            return await get_token(deps, stops[0], "u1", "discord")

    with pytest.raises(TokenUnavailableError) as info:
        asyncio.run(main())
    assert info.value.code == "stopped" and 1.0 <= job.clock.elapsed < 1.5

"""A disconnect takes the token lease first: a refresh in flight finishes and stores its tokens,
and the revocation presents those, never the spent ones; a holder that keeps the lease past the
wait makes the disconnect fail with nothing revoked and nothing deleted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from tests.jobs.harness import HANG, Job, TimedClock, hold_lease, make_job, store_refreshed
from tokensync.connections.disconnect import Disconnection, disconnect
from tokensync.refresh.token_source import TokenUnavailableError
from tokensync.runtime.stop import StopSignal

REVOKE = "https://discord.com/api/oauth2/token/revoke"


async def run(job: Job, handler: object) -> Disconnection:
    async with job.deps(handler) as deps:  # type: ignore[arg-type]
        stop = StopSignal(deps.clock, None)
        return await asyncio.wait_for(disconnect(deps, stop, "u1", "discord"), HANG)


def test_the_revocation_waits_for_the_refresh_in_flight_and_revokes_its_token(
    tmp_path: Path,
) -> None:
    job = make_job(tmp_path)
    # The other process's refresh answers 3 s in, well inside a disconnect's wait (2 x 20 s).
    job.clock = TimedClock(3.0, lambda: store_refreshed(job, "refresh-run", "AT-2", "RT-2"))
    job.add("u1", "discord", expires_in=60)
    hold_lease(job, "refresh-run")
    revoked: list[dict[str, list[str]]] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == REVOKE
        revoked.append(parse_qs(request.content.decode()))
        return httpx.Response(200, json={})

    done = asyncio.run(run(job, provider))

    assert [r["token"] for r in revoked] == [["RT-2"]], "the stored token, not the spent one"
    assert done.revocation.revoked and done.deleted["connections"] == 1
    assert 3.0 <= job.clock.elapsed < 4.0


def test_a_lease_kept_past_the_wait_fails_the_disconnect_and_changes_nothing(
    tmp_path: Path,
) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord", expires_in=60)
    hold_lease(job, "stuck-run", minutes=10)

    async def provider(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be revoked without the lease")

    with pytest.raises(TokenUnavailableError) as info:
        asyncio.run(run(job, provider))

    assert info.value.code == "busy"
    assert job.clock.elapsed >= 2 * job.settings.request_timeout
    assert job.connection("u1", "discord").lease_owner == "stuck-run"
    assert job.tokens("u1", "discord") == ("AT-discord-u1", "RT-discord-u1")

"""get_token called directly: waiting for another holder of the lease, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.jobs.harness import HANG, Job, make_job
from tests.support import FakeClock
from tokensync.crypto import Keyring, binding
from tokensync.jobs.fresh_token import AccessToken, get_token
from tokensync.jobs.refresher import Refresher
from tokensync.jobs.stop import StopSignal
from tokensync.jobs.token_source import ConnectionTokens, TokenUnavailableError
from tokensync.store import open_store


class TimedClock(FakeClock):
    """A fake clock that does something once `at` seconds have passed on it."""

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        super().__init__()
        self._at, self._action = at, action
        self.done = False

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if not self.done and self.elapsed >= self._at:
            self.done = True
            self._action()


async def no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent: {request.method} {request.url}")


def hold_lease(job: Job, owner: str, minutes: float = 5) -> int:
    """Another process (`owner`) takes the token lease of u1's discord connection."""
    conn = job.connection("u1", "discord")
    store = open_store(job.url)
    try:
        now = job.clock.now()
        leased = store.claim_one(
            conn.id, owner, now=now, lease_until=now + timedelta(minutes=minutes)
        )
        assert leased is not None
    finally:
        store.close()
    return conn.id


def store_refreshed(job: Job, owner: str, access: str, refresh: str) -> None:
    """That process stores what its refresh was issued, ending its lease."""
    ring, conn = Keyring([job.key]), job.connection("u1", "discord")
    store = open_store(job.url)
    try:
        assert store.save_refreshed(
            conn.id,
            owner,
            access_token_enc=ring.encrypt(access, binding("u1", "discord", "access")),
            refresh_token_enc=ring.encrypt(refresh, binding("u1", "discord", "refresh")),
            previous_refresh_enc=conn.refresh_token_enc,
            expires_at=job.clock.now() + timedelta(days=7),
            now=job.clock.now(),
        )
    finally:
        store.close()


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

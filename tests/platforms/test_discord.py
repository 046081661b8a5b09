"""Discord: the user's guilds, a snapshot; its rate-limit signals."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.platforms.support import Sleeps, api, collect, collect_until, keys, last_state
from tests.support import payloads as p
from tokensync.errors import MalformedResponseError, RateLimitedError
from tokensync.platforms.discord import UserGuilds
from tokensync.platforms.endpoint import SyncState, Walk

pytestmark = pytest.mark.anyio
GUILDS = f"{p.DISCORD}/users/@me/guilds"


async def test_guilds_are_a_snapshot(router: respx.MockRouter) -> None:
    route = router.get(GUILDS, params={"limit": "200"}).respond(
        200, json=[p.discord_guild(i) for i in range(3)]
    )
    batches = await collect(UserGuilds(), api(p.DISCORD))
    assert keys(batches) == [p.discord_guild(i)["id"] for i in range(3)]
    assert batches[0].items[0].data == p.discord_guild(0) and last_state(batches) == SyncState()
    assert batches[0].walk == Walk("absent_from_snapshot", begins=True, ends=True)
    assert route.calls[0].request.headers["Authorization"] == "Bearer old"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"guilds": []}, "list"), ([{"name": "no id"}], "'id'"), ([{"id": None}], "'id'")],
)
async def test_a_malformed_answer_stores_nothing(
    router: respx.MockRouter, body: object, field: str
) -> None:
    router.get(GUILDS).respond(200, json=body)
    batches, error = await collect_until(UserGuilds(), api(p.DISCORD))
    assert isinstance(error, MalformedResponseError) and batches == []
    assert "discord user_guilds" in str(error) and field in str(error)


async def test_the_retry_after_body_is_obeyed(router: respx.MockRouter) -> None:
    limited = {"X-RateLimit-Scope": "user", "X-RateLimit-Bucket": "abcd1234"}
    router.get(GUILDS).mock(
        side_effect=[
            httpx.Response(429, json=p.discord_rate_limited(1.25), headers=limited),
            httpx.Response(200, json=[p.discord_guild(0)]),
            httpx.Response(429, json=p.discord_rate_limited(64.57), headers=limited),
        ]
    )
    sleeps = Sleeps()
    assert len(keys(await collect(UserGuilds(), api(p.DISCORD, sleeps=sleeps)))) == 1
    assert sleeps == [1.25]
    batches, error = await collect_until(UserGuilds(), api(p.DISCORD, sleeps=sleeps))
    assert isinstance(error, RateLimitedError) and error.retry_after == 64.57
    assert batches == [] and sleeps == [1.25]

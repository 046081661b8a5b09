"""The API client every adapter uses: bearer token, 401 refresh, rate limits, links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from tests.platforms.support import FakeTokens, Sleeps, api
from tokensync.errors import (
    MalformedResponseError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

BASE = "https://api.example.test/v1"
pytestmark = pytest.mark.anyio


async def test_bearer_and_accept_headers(router: respx.MockRouter) -> None:
    route = router.get(
        f"{BASE}/me", headers={"Authorization": "Bearer old", "Accept": "application/json"}
    ).respond(200, json={})
    response = await api(BASE).get("/me")
    assert response.status == 200 and route.called


async def test_401_refreshes_once_then_retries(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me", headers={"Authorization": "Bearer old"}).respond(401)
    router.get(f"{BASE}/me", headers={"Authorization": "Bearer new"}).respond(200, json={"ok": 1})
    tokens = FakeTokens()
    assert (await api(BASE, tokens).get("/me")).body == {"ok": 1}
    assert tokens.refreshes == 1


async def test_a_second_401_is_permanent(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/me").respond(401)
    tokens = FakeTokens()
    with pytest.raises(PermanentError) as info:
        await api(BASE, tokens).get("/me")
    assert info.value.code == "unauthorized" and "old" not in str(info.value)
    assert tokens.refreshes == 1 and route.call_count == 2


async def test_a_dead_grant_stops_at_once(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/me").respond(401)
    with pytest.raises(PermanentError, match="revoked"):
        await api(BASE, FakeTokens(dead=True)).get("/me")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("response", "wait"),
    [
        (httpx.Response(429, headers={"Retry-After": "3"}), 3.0),
        (
            httpx.Response(
                429,
                json={
                    "message": "You are being rate limited.",
                    "retry_after": 1.5,
                    "global": False,
                },
            ),
            1.5,
        ),
        (httpx.Response(429, headers={"X-RateLimit-Reset-After": "2.25"}), 2.25),
        (
            httpx.Response(
                403,
                headers={"retry-after": "7"},
                json={"message": "You have exceeded a secondary rate limit."},
            ),
            7.0,
        ),
        (
            httpx.Response(
                403,
                json={
                    "error": {
                        "code": 403,
                        "message": "Rate Limit Exceeded",
                        "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}],
                    }
                },
            ),
            60.0,
        ),
        (httpx.Response(429, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}), 60.0),
    ],
)
async def test_short_waits_are_slept_and_retried(
    router: respx.MockRouter, response: httpx.Response, wait: float
) -> None:
    router.get(f"{BASE}/me").mock(side_effect=[response, httpx.Response(200, json={})])
    sleeps = Sleeps()
    await api(BASE, sleeps=sleeps, max_wait=60).get("/me")
    assert sleeps == [wait]


async def test_github_primary_limit_waits_until_reset(router: respx.MockRouter) -> None:
    import time

    reset = int(time.time()) + 3600
    router.get(f"{BASE}/me").respond(
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        json={"message": "API rate limit exceeded"},
    )
    with pytest.raises(RateLimitedError) as info:
        await api(BASE).get("/me")
    assert info.value.retry_after is not None and 3500 < info.value.retry_after <= 3600


async def test_quota_exhaustion_is_not_waited_out(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me").respond(
        429, json={"error": {"status": 429, "reason": "QUOTA_EXCEEDED"}}
    )
    sleeps = Sleeps()
    with pytest.raises(RateLimitedError):
        await api(BASE, sleeps=sleeps).get("/me")
    assert sleeps == []


async def test_persistent_short_limits_give_up(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/me").respond(429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimitedError):
        await api(BASE).get("/me")
    assert route.call_count == 4


async def test_a_plain_403_is_not_a_rate_limit(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me").respond(
        403,
        json={
            "error": {
                "code": 403,
                "message": "Insufficient Permission",
                "errors": [{"reason": "insufficientPermissions"}],
            }
        },
    )
    with pytest.raises(ProviderError) as info:
        await api(BASE).get("/me")
    assert info.value.code == "http_403" and "Insufficient Permission" in info.value.message
    assert not isinstance(info.value, RateLimitedError)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(502, text="bad gateway"), TransientError),
        (httpx.Response(200, html="<html>maintenance</html>"), MalformedResponseError),
        (
            httpx.Response(200, text="null", headers={"content-type": "application/json"}),
            MalformedResponseError,
        ),
    ],
)
async def test_garbage_and_outages(router: respx.MockRouter, response, error) -> None:  # type: ignore[no-untyped-def]
    router.get(f"{BASE}/me").mock(side_effect=[response])
    with pytest.raises(error):
        await api(BASE).get("/me")


async def test_timeouts_are_transient_and_say_no_token(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError) as info:
        await api(BASE).get("/me")
    assert info.value.code == "timeout" and "old" not in info.value.message


async def test_links_to_other_hosts_are_rebuilt_on_the_base(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/items", params={"page": "2"}).respond(200, json={})
    await api(BASE).get_url("https://evil.example/v1/items?page=2")
    await api(BASE).get_url("http://api.example.test:8443/v1/items?page=2")
    assert [str(c.request.url) for c in route.calls] == [f"{BASE}/items?page=2"] * 2


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/steal?page=2",
        "https://api.example.test/v10/items",
        "https://api.example.test/v1evil/items",
        "https://api.example.test/v1/../admin",
        "https://api.example.test/v1/%2e%2e/admin",
        "items?page=2",
    ],
)
async def test_links_outside_the_base_path_are_refused(link: str) -> None:
    with respx.mock(assert_all_mocked=True), pytest.raises(MalformedResponseError) as info:
        await api(BASE).get_url(link)
    assert "outside the API base" in str(info.value) and link not in str(info.value)


async def test_a_base_without_a_path_keeps_links_on_its_host(router: respx.MockRouter) -> None:
    route = router.get("https://api.github.com/user/1/events", params={"page": "2"}).respond(
        200, json=[]
    )
    await api("https://api.github.com").get_url("https://elsewhere.example/user/1/events?page=2")
    assert route.called


async def test_retry_after_as_an_http_date(router: respx.MockRouter) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    router.get(f"{BASE}/me").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": when}),
            httpx.Response(429, headers={"Retry-After": when}),
            httpx.Response(200, json={}),
        ]
    )
    sleeps = Sleeps()
    with pytest.raises(TransientError):
        await api(BASE, sleeps=sleeps).get("/me")
    await api(BASE, sleeps=sleeps).get("/me")
    assert len(sleeps) == 1 and 15 < sleeps[0] <= 20


async def test_connection_errors_are_transient(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError) as info:
        await api(BASE).get("/me")
    assert info.value.code == "connection_error" and "old" not in info.value.message


async def test_other_4xx_say_the_platform_message_but_no_header(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me").respond(
        404,
        headers={"X-Echo": "Bearer old"},
        json={"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
    )
    with pytest.raises(ProviderError) as info:
        await api(BASE).get("/me")
    assert info.value.code == "http_404" and info.value.status == 404
    assert "Not Found" in info.value.message and "old" not in info.value.message


async def test_expected_statuses_are_returned(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/me").respond(410, json={"error": {"code": 410}})
    response = await api(BASE).get("/me", expect=(410,))
    assert response.status == 410 and response.body == {"error": {"code": 410}}

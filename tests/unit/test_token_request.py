"""The refresh request built once a platform (oauth TokenEndpoint over http/prepared.py) is the
very request httpx's client would send, goes through the seams the tests mock, and carries no
cookie an answer set."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from tokensync.http.prepared import PreparedPost
from tokensync.http.transport import http_client
from tokensync.oauth.token_endpoint import TokenEndpoint, request_parts
from tokensync.platforms.catalog import BUILTIN_PLATFORMS, Platform

# Every character a form must escape, and some it must not.
AWKWARD = "1//0a+b/c=d&e f%20é~_.-"
TOKEN_BODY = {"access_token": "at-new", "token_type": "Bearer", "expires_in": 3600}


def platform(name: str, auth_method: str) -> Platform:
    return replace(
        BUILTIN_PLATFORMS[name],
        client_id="client id&1",
        client_secret="s3cr+t/=",
        auth_method=auth_method,
    )


def sent_requests(name: str, auth_method: str) -> tuple[httpx.Request, httpx.Request]:
    """The same refresh, sent by TokenEndpoint and by httpx's own client.post."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=TOKEN_BODY)

    p = platform(name, auth_method)

    async def both() -> None:
        async with http_client(30.0, 4, transport=httpx.MockTransport(answer)) as client:
            await TokenEndpoint(client, p).refresh(AWKWARD, timeout=12.5)
            form, headers = request_parts(p, AWKWARD)
            await client.post(p.token_url, data=form, headers=headers, timeout=12.5)

    asyncio.run(both())
    prepared, plain = seen
    return prepared, plain


@pytest.mark.parametrize(
    ("name", "auth_method"),
    [("google_gmail", "client_secret_post"), ("spotify", "client_secret_basic")],
)
def test_the_prepared_request_is_the_one_httpx_would_send(name: str, auth_method: str) -> None:
    prepared, plain = sent_requests(name, auth_method)
    assert prepared.method == plain.method == "POST"
    assert prepared.url == plain.url
    assert prepared.content == plain.content, "the form, byte for byte"
    assert dict(parse_qsl(prepared.content.decode()))["refresh_token"] == AWKWARD
    assert sorted(prepared.headers.multi_items()) == sorted(plain.headers.multi_items())
    assert prepared.extensions["timeout"] == plain.extensions["timeout"]
    if auth_method == "client_secret_basic":
        assert prepared.headers["authorization"].startswith("Basic ")
        assert b"client_secret" not in prepared.content
    else:
        assert "authorization" not in prepared.headers


def test_a_cookie_an_answer_sets_never_rides_along() -> None:
    """The prepared path skips httpx's cookie jar: nothing one user's answer set is sent with
    the next user's refresh."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"set-cookie": "session=user-one; Path=/"}
        return httpx.Response(200, json=TOKEN_BODY, headers=headers)

    p = BUILTIN_PLATFORMS["discord"]
    p = replace(p, client_id="id", client_secret="secret")

    async def twice() -> None:
        async with http_client(30.0, 4, transport=httpx.MockTransport(answer)) as client:
            endpoint = TokenEndpoint(client, p)
            await endpoint.refresh("rt-1", timeout=5)
            await endpoint.refresh("rt-2", timeout=5)

    asyncio.run(twice())
    assert len(seen) == 2
    assert all("cookie" not in r.headers for r in seen)


def test_respx_at_the_client_sees_the_prepared_requests() -> None:
    """respx's client-level mock (the CLI tests' seam) catches these requests like any other."""
    p = replace(BUILTIN_PLATFORMS["spotify"], client_id="id", client_secret="secret")

    async def refresh() -> str:
        async with http_client(30.0, 4) as client:
            tokens = await TokenEndpoint(client, p).refresh("rt-1", timeout=5)
            return tokens.access_token

    with respx.mock(using="httpx", assert_all_called=True, assert_all_mocked=True) as router:
        route = router.post(p.token_url).respond(200, json=TOKEN_BODY)
        assert asyncio.run(refresh()) == "at-new"
    assert route.call_count == 1
    assert b"refresh_token=rt-1" in route.calls.last.request.content


def test_a_closed_client_sends_nothing() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=TOKEN_BODY)

    async def after_close() -> None:
        client = http_client(30.0, 4, transport=httpx.MockTransport(answer))
        post = PreparedPost(client, "https://example.com/token", {})
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await post.send(b"x=1", timeout=5)

    asyncio.run(after_close())
    assert seen == []

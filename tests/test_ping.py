"""Pings: healthchecks.io's URLs, bodies, and never a failed or delayed job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from tokensync.http.transport import LazyAiohttpTransport
from tokensync.output.ping import MAX_BODY, ping

pytestmark = pytest.mark.anyio
SECRET = "0b4a3bd4-6f4e-4b0a-9c1a-6d2c0b6d1c11"
URL = f"https://hc-ping.com/{SECRET}"


@pytest.mark.parametrize(
    ("event", "suffix"), [("start", "/start"), ("success", ""), ("fail", "/fail")]
)
async def test_each_event_posts_to_its_url(event: str, suffix: str) -> None:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        route = router.post(URL + suffix).respond(200, text="OK")
        async with httpx.AsyncClient() as client:
            await ping(client, URL, event, '{"success": true}')  # type: ignore[arg-type]
    assert route.call_count == 1
    assert route.calls[0].request.content == b'{"success": true}'


async def test_start_without_a_body_and_a_trailing_slash() -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(URL + "/start").respond(200)
        async with httpx.AsyncClient() as client:
            await ping(client, URL + "/", "start")
    assert route.calls[0].request.content == b""


async def test_a_large_body_is_cut_to_100_kb_of_valid_utf8() -> None:
    body = "é" * MAX_BODY  # two bytes each: the cut falls inside no character
    with respx.mock(assert_all_called=True) as router:
        route = router.post(URL + "/fail").respond(200)
        async with httpx.AsyncClient() as client:
            await ping(client, URL, "fail", "x" + body)
    sent = route.calls[0].request.content
    assert len(sent) <= MAX_BODY
    assert sent.decode("utf-8").startswith("xéé")


@pytest.mark.parametrize(
    "effect",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("the monitor is slow"),
        httpx.Response(500, text="oops"),
        httpx.Response(404, text="no such check"),
    ],
    ids=["refused", "timeout", "500", "404"],
)
async def test_a_failing_ping_is_swallowed_and_logged_without_its_secret(
    effect: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tokensync.ping")
    with respx.mock(assert_all_called=True) as router:
        router.post(URL + "/fail").mock(side_effect=[effect])
        async with httpx.AsyncClient() as client:
            await ping(client, URL, "fail", "{}")
    assert "hc-ping.com" in caplog.text
    assert SECRET not in caplog.text


async def test_an_unexpected_error_is_swallowed_too() -> None:
    with respx.mock(assert_all_called=True) as router:
        router.post(URL).mock(side_effect=RuntimeError(f"boom at {URL}"))
        async with httpx.AsyncClient() as client:
            await ping(client, URL, "success", "{}")


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer at once, then send the body a byte at a time: no single read ever times out."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b".")
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.fixture(params=[_hang, _trickle], ids=["hang", "trickle"])
async def slow_server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A loopback HTTP server that never finishes its answer."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await request.param(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/{SECRET}"
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_a_slow_monitor_delays_the_job_no_longer_than_the_timeout(
    slow_server: str, transport: str
) -> None:
    client = httpx.AsyncClient(
        transport=LazyAiohttpTransport(httpx.Limits()) if transport == "aiohttp" else None,
        timeout=60,  # the client's own timeout is long: the ping's bound must win
    )
    async with client:
        started = time.monotonic()
        await ping(client, slow_server, "success", "{}", timeout=0.3)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5

"""Pings: healthchecks.io's URLs, bodies, and never a failed or delayed job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

# aiohttp's modules imported here, up front: LazyAiohttpTransport imports them on its first
# request, which on a busy machine spent the ping's time on an import instead of the monitor.
import aiohttp  # noqa: F401
import httpx
import httpx_aiohttp  # noqa: F401
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


# A slow monitor's answer outlasts the ping's bound by far and ends well within the client's own
# timeout: a ping still waiting when the monitor ends its answer was not bounded by itself.
PING_TIMEOUT = 2.0  # ample for a loaded machine to connect and send; the test never waits more
CLIENT_TIMEOUT = 60.0
HANG, TRICKLE = 30.0, (1000, 0.05)  # 30 s of silence; 1000 bytes, one every 50 ms: 50 s


class SlowMonitor:
    """A loopback HTTP server that takes far longer to answer than a ping may wait."""

    def __init__(self) -> None:
        self.url = ""
        self.answering = asyncio.Event()  # it has read the request and begun its slow answer
        self.finished = False  # it got to the end of that answer (the ping could have it all)


async def _hang(
    monitor: SlowMonitor, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await reader.readuntil(b"\r\n\r\n")
    monitor.answering.set()
    await asyncio.sleep(HANG)
    monitor.finished = True  # and the connection closes: the ping has its answer, an error


async def _trickle(
    monitor: SlowMonitor, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer at once, then send the body a byte at a time: no single read ever times out."""
    await reader.readuntil(b"\r\n\r\n")
    size, every = TRICKLE
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
    for _ in range(size - 1):
        writer.write(b".")
        await writer.drain()
        monitor.answering.set()
        await asyncio.sleep(every)
    monitor.finished = True  # the last byte follows: the ping has its whole answer
    writer.write(b".")


@pytest.fixture(params=[_hang, _trickle], ids=["hang", "trickle"])
async def slow_monitor(request: pytest.FixtureRequest) -> AsyncIterator[SlowMonitor]:
    """A SlowMonitor listening on 127.0.0.1; its answers are cut short when the test ends."""
    monitor = SlowMonitor()
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await request.param(monitor, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up, at whatever point it gave up: what a bounded ping does
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    monitor.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/{SECRET}"
    yield monitor
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_a_slow_monitor_delays_the_job_no_longer_than_the_timeout(
    slow_monitor: SlowMonitor, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tokensync.ping")
    client = httpx.AsyncClient(
        transport=LazyAiohttpTransport(httpx.Limits()) if transport == "aiohttp" else None,
        timeout=CLIENT_TIMEOUT,  # the client's own timeout is long: the ping's bound must win
    )
    async with client:
        await ping(client, slow_monitor.url, "success", "{}", timeout=PING_TIMEOUT)
        # Ordering, not speed: the ping gave up on an answer under way, before the monitor
        # ended it, and so long before the client's timeout could have ended the wait.
        assert slow_monitor.answering.is_set(), "the ping reached the monitor and was answered"
        assert not slow_monitor.finished, "the ping gave up while the monitor was still answering"
    assert "Timeout" in caplog.text, "it gave up because its time was up"

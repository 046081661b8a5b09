"""The HTTP client tokensync sends with: httpx's API over aiohttp's transport, faults mapped.

aiohttp carries about 8x the requests a second of httpx's own async transport at 64 in flight;
httpx's API is what the code and the tests (respx, MockTransport) are written against.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from tokensync import __version__
from tokensync.http import faults


class LazyAiohttpTransport(httpx.AsyncBaseTransport):
    """aiohttp's transport, imported and built on the first request: a run with nothing to do
    never pays for importing aiohttp. One transport for https and one for plain http (loopback
    only: settings refuse http elsewhere), each built on its first request, so that the TLS
    context (a CA bundle read and parsed, 40 ms and more) is only made by a run that uses TLS.

    Every failure of aiohttp (while sending, or later while the body streams) comes out as an
    httpx.TransportError of tokensync.http.faults whose text is only aiohttp's class name: the
    httpx_aiohttp transport maps a few aiohttp exceptions, some wrongly (a server hanging up
    became ConnectTimeout) and lets the rest (a bad status line, a header over aiohttp's 8190
    byte limit, bad chunking) out as they are, with reprs that hold the request's headers.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._transports: dict[bool, httpx.AsyncBaseTransport] = {}  # by "is it https"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp."""
        tls = request.url.scheme == "https"
        try:
            transport = self._transports.get(tls)
            if transport is None:
                transport = self._transports[tls] = _aiohttp_transport(self._limits, tls)
            response = await transport.handle_async_request(request)
        except Exception as exc:
            raise _mapped(exc) from None
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _MappedStream(response.stream)
        return response

    async def aclose(self) -> None:
        """Close aiohttp's sessions, those that were opened."""
        for transport in self._transports.values():
            await transport.aclose()


def _aiohttp_transport(limits: httpx.Limits, tls: bool) -> httpx.AsyncBaseTransport:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    # Our own session, to be sure aiohttp never inflates a body itself (httpx_aiohttp 0.2 asks
    # per request; older ones did not): tokensync.http.responses decodes it with an output bound.
    connector = aiohttp.TCPConnector(
        limit=limits.max_connections or 0,
        keepalive_timeout=limits.keepalive_expiry,
        # httpx's verification (certifi's CA bundle) for https; plain http has no TLS at all.
        ssl=httpx.create_ssl_context() if tls else False,
    )
    # Nor does aiohttp keep a cookie one user's answer set (see http_client).
    session = aiohttp.ClientSession(
        connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    )
    transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits, client=session)
    return transport


class _MappedStream(httpx.AsyncByteStream):
    """A response body whose failures are mapped like the request's."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            raise _mapped(exc) from None

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        except Exception as exc:
            raise _mapped(exc) from None


def _mapped(exc: Exception) -> httpx.HTTPError:
    """An exception out of aiohttp or httpx_aiohttp as an httpx error that holds no secret."""
    if isinstance(exc, faults.Fault):
        return exc
    # httpx_aiohttp raises httpx errors `from` the aiohttp one: classify by the original.
    cause = exc.__cause__
    origin = cause if isinstance(exc, httpx.HTTPError) and isinstance(cause, Exception) else exc
    if isinstance(origin, httpx.HTTPError):
        return origin  # httpx's own (its decoders, an unsupported URL): no aiohttp text in it
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    name = type(origin).__name__
    if isinstance(origin, aiohttp.ConnectionTimeoutError):
        return faults.ConnectTimeoutFault(name)
    if isinstance(origin, aiohttp.ServerTimeoutError | TimeoutError):
        return faults.ReadTimeoutFault(name)
    if isinstance(origin, aiohttp.ClientConnectorError):
        return faults.ConnectFault(name)
    if isinstance(origin, aiohttp.ClientResponseError | HttpProcessingError):
        return faults.ProtocolFault(name)
    # Hung up, reset, a body cut short (ClientPayloadError), anything else.
    return faults.ReadFault(name)


def http_client(
    request_timeout: float,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The async HTTP client: httpx's API over aiohttp's transport, sized for the concurrency.

    `transport` replaces aiohttp's (a test's httpx.MockTransport): the one seam for HTTP.
    """
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    # One client serves every user: a cookie one user's answer sets must never ride along with
    # another user's request (httpx keeps cookies across requests unless its jar refuses them).
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        transport=transport or LazyAiohttpTransport(limits),
        cookies=no_cookies,
        timeout=httpx.Timeout(request_timeout),
        # Only what tokensync.http.responses decodes (httpx would add br and zstd when their
        # modules are installed, and hand those bodies to us undecoded).
        headers={"User-Agent": f"tokensync/{__version__}", "Accept-Encoding": "gzip, deflate"},
        follow_redirects=False,
    )

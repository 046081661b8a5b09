"""The one place where settings become collaborators: the store, the keyring, the HTTP client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tokensync import __version__, httpio
from tokensync.crypto import Keyring, create_keys_file, read_keys_file
from tokensync.errors import ConfigError
from tokensync.settings import Settings
from tokensync.spool import Spool
from tokensync.store import Store, open_store

Notice = Callable[[str], None]


def _stderr(message: str) -> None:
    sys.stderr.write(f"tokensync: {message}\n")


def open_database(settings: Settings, *, migrate: bool = True) -> Store:
    """Connect, and bring the schema up to date (refusing one newer than this program)."""
    if settings.database_is_default:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = open_store(settings.database_url)
    try:
        if migrate:
            store.migrate(datetime.now(UTC))
    except BaseException:
        store.close()
        raise
    return store


def sqlite_key_file(settings: Settings) -> Path | None:
    """The key file kept beside a SQLite database, or None for PostgreSQL."""
    if not settings.database_url.startswith("sqlite:///"):
        return None
    from tokensync.store.sqlite import sqlite_path

    return sqlite_path(settings.database_url).with_suffix(".key")


def load_keyring(settings: Settings, notice: Notice = _stderr) -> Keyring:
    """The keyring from the environment, a key file, or (embedded database only) a new key file."""
    if settings.encryption_keys:
        return Keyring(settings.encryption_keys)
    if settings.encryption_keys_file is not None:
        keys_file = settings.encryption_keys_file
        return Keyring(read_keys_file(keys_file), source=str(keys_file))
    path = sqlite_key_file(settings)
    if path is None:
        raise ConfigError(
            "no encryption key: set TOKENSYNC_ENCRYPTION_KEYS or TOKENSYNC_ENCRYPTION_KEYS_FILE "
            "(make a key with `tokensync keys generate`)"
        )
    if not path.exists():
        create_keys_file(path)
        notice(
            f"created a new encryption key file {path} (mode 0600); back it up: without it the "
            "stored tokens cannot be read"
        )
    return Keyring(read_keys_file(path), source=str(path))


def open_spool(settings: Settings, store: Store) -> Spool:
    """The local spool of this database, named by the identity the database holds."""
    from tokensync.spool import url_fingerprint

    legacy = (url_fingerprint(settings.database_url),)
    return Spool(settings.spool_dir, store.database_id(), legacy_names=legacy)


class LazyAiohttpTransport(httpx.AsyncBaseTransport):
    """aiohttp's transport, imported and built on the first request: a run with nothing to do
    never pays for importing aiohttp.

    Every failure of aiohttp (while sending, or later while the body streams) comes out as an
    httpx.TransportError from tokensync.httpio whose text is only aiohttp's class name: the
    httpx_aiohttp transport maps a few aiohttp exceptions, some wrongly (a server hanging up
    became ConnectTimeout) and lets the rest (a bad status line, a header over aiohttp's 8190
    byte limit, bad chunking) out as they are, with reprs that hold the request's headers.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp."""
        try:
            if self._transport is None:
                self._transport = _aiohttp_transport(self._limits)
            response = await self._transport.handle_async_request(request)
        except Exception as exc:
            raise _mapped(exc) from None
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _MappedStream(response.stream)
        return response

    async def aclose(self) -> None:
        """Close aiohttp's session, if one was opened."""
        if self._transport is not None:
            await self._transport.aclose()


def _aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    # Our own session, to be sure aiohttp never inflates a body itself (httpx_aiohttp 0.2 asks
    # per request; older ones did not): tokensync.httpio decodes it with an output bound.
    connector = aiohttp.TCPConnector(
        limit=limits.max_connections or 0,
        keepalive_timeout=limits.keepalive_expiry,
        ssl=httpx.create_ssl_context(),
    )
    session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
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
    if isinstance(exc, httpio.Fault):
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
        return httpio.ConnectTimeoutFault(name)
    if isinstance(origin, aiohttp.ServerTimeoutError | TimeoutError):
        return httpio.ReadTimeoutFault(name)
    if isinstance(origin, aiohttp.ClientConnectorError):
        return httpio.ConnectFault(name)
    if isinstance(origin, aiohttp.ClientResponseError | HttpProcessingError):
        return httpio.ProtocolFault(name)
    # Hung up, reset, a body cut short (ClientPayloadError), anything else.
    return httpio.ReadFault(name)


def http_client(settings: Settings, concurrency: int) -> httpx.AsyncClient:
    """The async HTTP client: httpx's API over aiohttp's transport, sized for the concurrency."""
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        transport=LazyAiohttpTransport(limits),
        timeout=httpx.Timeout(settings.request_timeout),
        # Only what tokensync.httpio decodes (httpx would add br and zstd when their modules are
        # installed, and hand those bodies to us undecoded).
        headers={"User-Agent": f"tokensync/{__version__}", "Accept-Encoding": "gzip, deflate"},
        follow_redirects=False,
    )

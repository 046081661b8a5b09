"""The one place where settings become collaborators: the store, the keyring, the HTTP client."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tokensync import __version__
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
    never pays for importing aiohttp."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp."""
        if self._transport is None:
            from httpx_aiohttp import AiohttpTransport

            self._transport = AiohttpTransport(limits=self._limits)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Close aiohttp's session, if one was opened."""
        if self._transport is not None:
            await self._transport.aclose()


def http_client(settings: Settings, concurrency: int) -> httpx.AsyncClient:
    """The async HTTP client: httpx's API over aiohttp's transport, sized for the concurrency."""
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        transport=LazyAiohttpTransport(limits),
        timeout=httpx.Timeout(settings.request_timeout),
        headers={"User-Agent": f"tokensync/{__version__}"},
        follow_redirects=False,
    )

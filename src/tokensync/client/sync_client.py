"""TokenClient: the Python API for code without an event loop, running AsyncTokenClient's
operations on a loop of its own (so never from inside a running loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from tokensync.client.async_client import (
    AsyncTokenClient,
    _ignore,
)
from tokensync.connections.api_request import ApiAnswer
from tokensync.connections.disconnect import Disconnection
from tokensync.connections.erase import Erasure
from tokensync.connections.fresh_token import DEFAULT_MIN_TTL, AccessToken
from tokensync.errors import UsageError
from tokensync.revocations.ingest import Ingestion
from tokensync.runtime.clock import Clock
from tokensync.runtime.reportable import Reportable
from tokensync.settings import Settings, load_settings
from tokensync.store.changes import ChangePage
from tokensync.store.models import ImportCounts

T = TypeVar("T")


class TokenClient:
    """The same as AsyncTokenClient, method for method, for code without an event loop: each
    call runs on an event loop the client keeps for its lifetime."""

    def __init__(
        self,
        settings: Settings,
        *,
        progress: Callable[[Reportable], None] = _ignore,
        handle_signals: bool = False,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        create_database: bool = True,
    ) -> None:
        """The options of AsyncTokenClient."""
        self._async = AsyncTokenClient(
            settings,
            progress=progress,
            handle_signals=handle_signals,
            clock=clock,
            transport=transport,
            create_database=create_database,
        )
        self._runner: asyncio.Runner | None = None

    def open(self) -> TokenClient:
        """Open the store (migrating it) and the HTTP client; a second call does nothing."""
        if self._runner is None:
            _outside_a_loop("open")
            runner = asyncio.Runner()
            try:
                runner.run(self._async.open())
            except BaseException:
                runner.close()
                raise
            self._runner = runner
        return self

    def close(self) -> None:
        """Let what is under way finish, then close."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            try:
                runner.run(self._async.aclose())
            finally:
                runner.close()

    def __enter__(self) -> TokenClient:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def get_token(
        self,
        user_id: str,
        platform: str,
        *,
        min_ttl: float = DEFAULT_MIN_TTL,
        force_refresh: bool = False,
    ) -> AccessToken:
        """AsyncTokenClient.get_token."""
        return self._call(
            self._async.get_token(user_id, platform, min_ttl=min_ttl, force_refresh=force_refresh)
        )

    def request(
        self,
        user_id: str,
        platform: str,
        path: str,
        *,
        method: str = "GET",
        fields: Sequence[tuple[str, str]] = (),
        paginate: bool = False,
    ) -> ApiAnswer:
        """AsyncTokenClient.request."""
        return self._call(
            self._async.request(
                user_id, platform, path, method=method, fields=fields, paginate=paginate
            )
        )

    def save_grant(
        self,
        user_id: str,
        platform: str,
        grant: Mapping[str, object],
        *,
        provider_user_id: str | None = None,
        keep_old_grant: bool = False,
    ) -> ImportCounts:
        """AsyncTokenClient.save_grant."""
        return self._call(
            self._async.save_grant(
                user_id,
                platform,
                grant,
                provider_user_id=provider_user_id,
                keep_old_grant=keep_old_grant,
            )
        )

    def disconnect(
        self,
        user_id: str,
        platform: str,
        *,
        revoke: bool = True,
        keep_data: bool = False,
        dry_run: bool = False,
    ) -> Disconnection:
        """AsyncTokenClient.disconnect."""
        return self._call(
            self._async.disconnect(
                user_id, platform, revoke=revoke, keep_data=keep_data, dry_run=dry_run
            )
        )

    def ingest_revocation(self, source: str, body: bytes, headers: Mapping[str, str]) -> Ingestion:
        """AsyncTokenClient.ingest_revocation."""
        return self._call(self._async.ingest_revocation(source, body, headers))

    def erase_user(self, user_id: str, *, revoke: bool = True, dry_run: bool = False) -> Erasure:
        """AsyncTokenClient.erase_user."""
        return self._call(self._async.erase_user(user_id, revoke=revoke, dry_run=dry_run))

    def changes(
        self,
        *,
        after: str | None = None,
        limit: int = 1000,
        users: tuple[str, ...] = (),
        platforms: tuple[str, ...] = (),
        endpoint: str | None = None,
    ) -> ChangePage:
        """AsyncTokenClient.changes."""
        return self._call(
            self._async.changes(
                after=after, limit=limit, users=users, platforms=platforms, endpoint=endpoint
            )
        )

    def _call(self, work: Coroutine[object, object, T]) -> T:
        if self._runner is None:
            work.close()
            raise RuntimeError("the client is closed: use `with open_client() as ...`")
        try:
            _outside_a_loop(getattr(work, "__name__", "call"))
        except RunningLoopError:
            work.close()  # never started: no "never awaited" warning
            raise
        return self._runner.run(work)


class RunningLoopError(UsageError):
    """The synchronous TokenClient was called inside a running event loop, which it would block
    (and asyncio refuses): that code wants AsyncTokenClient."""

    code = "running_event_loop"


def _outside_a_loop(method: str) -> None:
    """Raise RunningLoopError when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RunningLoopError(
        f"TokenClient.{method} was called inside a running event loop, which it would block: "
        f"use AsyncTokenClient (`async with open_async_client() as tokens: await "
        f"tokens.{method}(...)`)"
    )


def open_client(
    *, database_url: str | None = None, config: str | Path | None = None
) -> TokenClient:
    """An open client on the settings the command line would read (the environment,
    TOKENSYNC_CONFIG), or on the database and config file given here."""
    return TokenClient(load_settings(database_url=database_url, config_path=config)).open()

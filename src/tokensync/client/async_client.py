"""AsyncTokenClient: the Python API as coroutines, for an application with an event loop; every
operation runs through the same code as the command line, shielded from its caller's
cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from tokensync import bootstrap
from tokensync.connections.api_request import ApiAnswer, api_request
from tokensync.connections.disconnect import Disconnection, disconnect
from tokensync.connections.erase import Erasure, erase_user
from tokensync.connections.fresh_token import DEFAULT_MIN_TTL, AccessToken, get_token
from tokensync.connections.token_import import grant_row
from tokensync.crypto import Keyring
from tokensync.errors import StorageError
from tokensync.jobs.run_record import new_run_id
from tokensync.refresh.old_grants import revocable_alone, revoke_replaced
from tokensync.revocations.delivery import delivery_of
from tokensync.revocations.ingest import Ingestion, ingest_revocation
from tokensync.runtime.clock import Clock
from tokensync.runtime.deps import Deps
from tokensync.runtime.reportable import Reportable
from tokensync.runtime.stop import StopSignal
from tokensync.settings import Settings, load_settings
from tokensync.store.changes import ChangePage
from tokensync.store.models import Filters, ImportCounts

T = TypeVar("T")
Operation = Callable[[Deps, StopSignal], Awaitable[T]]


# Requests in flight at once from one client: an application asks for a few tokens at a time.
_CONCURRENCY = 16


def _ignore(item: Reportable) -> None:
    """The progress callback of a client nobody watches."""


class AsyncTokenClient:
    """The application's side of tokensync, as coroutines: `async with` it, or open() and
    aclose() it."""

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
        """`handle_signals`: SIGTERM and SIGINT stop new requests while one in flight finishes
        (for command-line programs; an application with its own handlers leaves it off).
        `create_database` False: a database that does not exist yet is an error (NoDatabaseError),
        not created (the commands that read or remove). `clock` and `transport` stand in for the
        real ones in tests."""
        self._settings, self._progress, self._signals = settings, progress, handle_signals
        self._clock, self._transport, self._create = clock, transport, create_database
        self._keyring: Keyring | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._deps: Deps | None = None
        self._pending: set[asyncio.Task[object]] = set()

    async def open(self) -> AsyncTokenClient:
        """Open the store (migrating it) and the HTTP client; a second call does nothing."""
        if self._stack is not None:
            return self
        stack = contextlib.AsyncExitStack()
        self._deps = await stack.enter_async_context(
            bootstrap.job_deps(
                self._settings,
                owner=new_run_id("client"),
                concurrency=_CONCURRENCY,
                keyring=None,
                progress=self._progress,
                clock=self._clock,
                transport=self._transport,
                create=self._create,
            )
        )
        self._stack = stack
        return self

    async def aclose(self) -> None:
        """Let the operations under way finish (and store what they were issued), then close."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._stack is not None:
            stack, self._stack, self._deps = self._stack, None, None
            await stack.aclose()

    async def __aenter__(self) -> AsyncTokenClient:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def get_token(
        self,
        user_id: str,
        platform: str,
        *,
        min_ttl: float = DEFAULT_MIN_TTL,
        force_refresh: bool = False,
    ) -> AccessToken:
        """A fresh access token: refreshed first, under the lease, when it expires within
        `min_ttl` seconds (or whatever its expiry, with `force_refresh`)."""

        async def op(deps: Deps, stop: StopSignal) -> AccessToken:
            token = await get_token(
                deps, stop, user_id, platform, min_ttl=min_ttl, force_refresh=force_refresh
            )
            deps.progress(token)
            return token

        return await self._operate("get", op)

    async def request(
        self,
        user_id: str,
        platform: str,
        path: str,
        *,
        method: str = "GET",
        fields: Sequence[tuple[str, str]] = (),
        paginate: bool = False,
    ) -> ApiAnswer:
        """A request to the platform's API (a path below its api_base) with the connection's
        fresh access token; a 401 refreshes it once. `fields`: a GET's query, else the members
        of a JSON body. `paginate`: every page of a GET, as one array of items."""

        async def op(deps: Deps, stop: StopSignal) -> ApiAnswer:
            answer = await api_request(
                deps,
                stop,
                user_id,
                platform,
                path,
                method=method,
                fields=fields,
                paginate=paginate,
            )
            deps.progress(answer)
            return answer

        return await self._operate("api", op)

    async def save_grant(
        self,
        user_id: str,
        platform: str,
        grant: Mapping[str, object],
        *,
        provider_user_id: str | None = None,
        keep_old_grant: bool = False,
    ) -> ImportCounts:
        """Store the token response an OAuth callback received (`access_token`, `refresh_token`,
        `expires_in`, `scope`, `token_type`, `refresh_token_expires_in`, `id_token`) as the
        connection of (user, platform): created, or replaced and active again, as `tokens import`
        does. `provider_user_id` (or the id_token's `sub`) is the provider's id of the account.
        A grant it replaces is revoked once the new one is stored, where that ends it alone
        (unless `keep_old_grant`); `old_grants` of the result says how it went."""

        async def op(deps: Deps, stop: StopSignal) -> ImportCounts:
            now = deps.clock.now()
            keyring = deps.require_keyring()
            row = grant_row(
                user_id,
                platform,
                grant,
                deps.settings.platforms,
                keyring,
                now,
                provider_user_id=provider_user_id,
            )
            # A key that opens none of the stored tokens would leave the database under two.
            store = deps.db.store
            await deps.db.call(bootstrap.check_keyring, store, keyring)
            replaced = [] if keep_old_grant else revocable_alone(deps.settings.platforms)
            counts = await deps.db.call(store.upsert_connections, [row], now, replaced)
            if not counts.replaced_grants:
                return counts
            conn = await deps.db.call(store.find_connection, user_id, platform)
            old = await revoke_replaced(deps, [conn.id] if conn is not None else None)
            return replace(counts, old_grants=old)

        return await self._operate("save", op)

    async def disconnect(
        self,
        user_id: str,
        platform: str,
        *,
        revoke: bool = True,
        keep_data: bool = False,
        dry_run: bool = False,
    ) -> Disconnection:
        """Revoke the grant at the provider (unless `revoke` is False), then delete the tokens
        and the sync state, and (unless `keep_data`) make the polled items tombstones
        ('disconnected', in the change feed); a failed revocation raises and deletes nothing."""

        async def op(deps: Deps, stop: StopSignal) -> Disconnection:
            done = await disconnect(
                deps,
                stop,
                user_id,
                platform,
                revoke=revoke,
                keep_data=keep_data,
                dry_run=dry_run,
            )
            deps.progress(done)
            return done

        return await self._operate("disconnect", op, keys=not dry_run)

    async def erase_user(
        self, user_id: str, *, revoke: bool = True, dry_run: bool = False
    ) -> Erasure:
        """Disconnect every connection of the user (revoking each), then remove every row and
        spooled token set that names them; the receipt says what went where. A connection whose
        revocation failed is listed in `failures`, and `success` is False: run it again."""

        async def op(deps: Deps, stop: StopSignal) -> Erasure:
            return await erase_user(deps, stop, user_id, revoke=revoke, dry_run=dry_run)

        return await self._operate("erase", op, keys=not dry_run)

    async def ingest_revocation(
        self, source: str, body: bytes, headers: Mapping[str, str]
    ) -> Ingestion:
        """Verify a revocation a platform pushed (`source`: github or google-risc; the request's
        raw body and its headers, as the application's webhook receiver got them) and apply it:
        the account's connections revoked, once per delivery. An unverified one raises
        UnverifiedDeliveryError (a UsageError) and changes nothing."""

        async def op(deps: Deps, stop: StopSignal) -> Ingestion:
            done = await ingest_revocation(deps, source, delivery_of(body, headers))
            deps.progress(done)
            return done

        # A refresh token Google names by a hash is matched with the keys (token_match.py).
        return await self._operate("revocations", op, keys=source != "github")

    async def changes(
        self,
        *,
        after: str | None = None,
        limit: int = 1000,
        users: tuple[str, ...] = (),
        platforms: tuple[str, ...] = (),
        endpoint: str | None = None,
    ) -> ChangePage:
        """A page of the change feed after `after` (None: from the beginning), as `data changes`
        prints it; pass its `next` as `after` next time. PositionExpiredError: read again from
        the beginning."""
        filters = Filters(platforms=platforms, users=users)

        async def op(deps: Deps, stop: StopSignal) -> ChangePage:
            read = deps.db.store.read_changes
            return await deps.db.call(read, after, limit=limit, filters=filters, endpoint=endpoint)

        return await self._operate("changes", op, keys=False)

    async def _operate(self, command: str, op: Operation[T], *, keys: bool = True) -> T:
        """Run one operation under a lease owner of its own, shielded from cancellation. A dry
        run decrypts nothing, and needs no keys."""
        if self._deps is None:
            raise RuntimeError("the client is not open: use `async with` or await open()")
        # Each operation owns its leases: two at once on one connection must not pass for one.
        keyring = self._keys() if keys else None
        deps = replace(self._deps, owner=new_run_id(command), keyring=keyring)

        async def guarded() -> T:
            stop = StopSignal(deps.clock, None)
            # The operation's leases belong to a live owner until it ends (store: lease owners).
            await deps.db.call(deps.db.store.hold_lease_owner, deps.owner)
            try:
                if not self._signals:
                    return await op(deps, stop)
                with stop.on_signals():
                    return await op(deps, stop)
            finally:
                with contextlib.suppress(StorageError):
                    await deps.db.call(deps.db.store.drop_lease_owner, deps.owner)

        task = asyncio.ensure_future(guarded())
        self._pending.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._pending.discard(task)
        # A caller that gave up never reads the outcome: read it here, so that asyncio does not
        # report an exception nobody retrieved (the error was the caller's to see, and it left).
        if not task.cancelled():
            task.exception()

    def _keys(self) -> Keyring:
        if self._keyring is None:
            self._keyring = bootstrap.load_keyring(self._settings)
        return self._keyring


def open_async_client(
    *, database_url: str | None = None, config: str | Path | None = None
) -> AsyncTokenClient:
    """A client for `async with` (or `await client.open()`), on the same settings."""
    return AsyncTokenClient(load_settings(database_url=database_url, config_path=config))

"""The poll-platforms run: claim connections to poll, run each endpoint adapter, store its batches.

Each batch an adapter yields (items and the cursor that covers them) is committed in one
transaction before the adapter is asked for the next, so a run that dies repeats some work next
time and loses nothing. Connections are claimed under a poll lease, apart from the token lease
that a refresh takes, so pollers and refreshers overlap safely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from tokensync.crypto import Keyring
from tokensync.errors import (
    CryptoError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    StorageError,
    TokensyncError,
)
from tokensync.jobs.pipeline import claim_and_process
from tokensync.jobs.refresher import Refresher, apply_spool
from tokensync.jobs.runtime import AsyncStore, Clock, StopSignal, utc_now
from tokensync.jobs.tokens import ConnectionTokens, TokenUnavailableError
from tokensync.platforms.base import Api, Endpoint, PollContext, SyncState, endpoints_for
from tokensync.settings import Settings
from tokensync.spool import Spool
from tokensync.store import Connection, Filters
from tokensync.store.models import StoredItem, SyncCursor


@dataclass(frozen=True)
class PollOptions:
    """What the operator asked of this run."""

    filters: Filters = field(default_factory=Filters)
    dry_run: bool = False
    concurrency: int = 16
    max_duration: float | None = None
    keep: str = "all"


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint of one connection."""

    endpoint: str
    success: bool
    fetched: int = 0
    new: int = 0
    stored: int = 0
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ConnectionPoll:
    """One connection's poll."""

    connection: Connection
    endpoints: Sequence[EndpointResult]
    error_code: str | None = None
    error_message: str | None = None

    @property
    def success(self) -> bool:
        """Every endpoint succeeded."""
        return self.error_code is None and all(e.success for e in self.endpoints)

    def log_fields(self) -> dict[str, object]:
        """What a log line says of this poll: ids, counts, outcome; never a secret."""
        return {
            "connectionId": self.connection.id,
            "platform": self.connection.platform,
            "userId": self.connection.user_id,
            "outcome": "polled" if self.success else "failed",
            "itemsFetched": sum(e.fetched for e in self.endpoints),
            "newItems": sum(e.new for e in self.endpoints),
        }


@dataclass
class PollResult:
    """What the run did."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    users: set[str] = field(default_factory=set)
    connections: int = 0
    successful: int = 0
    failed: int = 0
    fetched: int = 0
    stored: int = 0
    polls: list[ConnectionPoll] = field(default_factory=list)
    due: list[Connection] = field(default_factory=list)
    platform_errors: dict[str, TokensyncError] = field(default_factory=dict)
    spool_applied: int = 0
    stopped: str | None = None
    error: StorageError | None = None

    @property
    def success(self) -> bool:
        """True when nothing failed."""
        return self.failed == 0 and self.error is None


def pollable_platforms(settings: Settings) -> list[str]:
    """Platforms with polling adapters and an API base."""
    return [
        name
        for name, platform in settings.platforms.items()
        if platform.api_base and endpoints_for(name)
    ]


async def run_poll(
    db: AsyncStore,
    client: httpx.AsyncClient,
    keyring: Keyring | None,
    settings: Settings,
    spool: Spool,
    options: PollOptions,
    *,
    run_id: str,
    clock: Clock = utc_now,
    on_outcome: Callable[[ConnectionPoll], None] | None = None,
) -> PollResult:
    """One poll-platforms run."""
    result = PollResult(run_id=run_id, started_at=clock(), dry_run=options.dry_run)
    stop = StopSignal(clock, options.max_duration)
    pollable = pollable_platforms(settings)
    with stop.on_signals():
        if options.dry_run:
            await _dry_run(db, settings, options, pollable, result, clock)
        else:
            assert keyring is not None, "a real run needs the keyring"
            # Tokens spooled by a run that lost the database go in first: polling refreshes too,
            # and must never present a refresh token that the spool has already replaced.
            result.spool_applied = await apply_spool(db, spool, clock)
            refresher = Refresher(
                db, client, keyring, settings, spool, owner=run_id, clock=clock, stop=stop
            )
            poller = _Poller(db, client, keyring, settings, refresher, result, clock)
            await _claim_and_poll(db, poller, settings, options, pollable, stop, result, on_outcome)
            result.error = result.error or refresher.storage_error
    result.stopped = stop.reason
    result.finished_at = clock()
    return result


async def _claim_and_poll(
    db: AsyncStore,
    poller: _Poller,
    settings: Settings,
    options: PollOptions,
    pollable: list[str],
    stop: StopSignal,
    result: PollResult,
    on_poll: Callable[[ConnectionPoll], None] | None,
) -> None:
    async def claim() -> list[Connection]:
        if result.error is not None or not pollable:
            return []
        now = poller.clock()
        lease_until = now + timedelta(seconds=settings.lease_seconds)
        batch = await db.call(
            db.store.claim_due_polls,
            result.run_id,
            now=now,
            lease_until=lease_until,
            next_poll_at=now + timedelta(seconds=settings.poll_interval),
            pollable=pollable,
            limit=settings.batch_size,
            filters=options.filters,
        )
        poller.leased(batch, lease_until)
        return batch

    async def process(conn: Connection) -> bool:
        poll = await poller.poll(conn)
        _count(result, poll, options.keep)
        if on_poll:
            on_poll(poll)
        return True  # finish_poll ended the poll lease

    unpolled, error = await claim_and_process(
        claim, process, concurrency=options.concurrency, queue_size=settings.batch_size, stop=stop
    )
    result.error = result.error or error
    if unpolled and result.error is None:
        try:
            await db.call(db.store.release_polls, sorted(unpolled), result.run_id)
        except StorageError as exc:
            result.error = exc


class _Poller:
    """Polls one connection's endpoints; remembers platforms this run must leave alone."""

    def __init__(
        self,
        db: AsyncStore,
        client: httpx.AsyncClient,
        keyring: Keyring,
        settings: Settings,
        refresher: Refresher,
        result: PollResult,
        clock: Clock,
    ) -> None:
        self.db, self.client, self.keyring, self.settings = db, client, keyring, settings
        self.refresher, self.result, self.clock = refresher, result, clock
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._leases: dict[int, datetime] = {}  # connection id -> when its poll lease ends

    def leased(self, batch: Sequence[Connection], until: datetime) -> None:
        """Note the poll leases a claim took."""
        self._leases.update((conn.id, until) for conn in batch)

    async def poll(self, conn: Connection) -> ConnectionPoll:
        """Poll every endpoint of one connection, then end its poll lease."""
        platform = self.settings.platforms[conn.platform]
        limit = self._limits.setdefault(platform.name, asyncio.Semaphore(platform.concurrency))
        async with limit:
            poll = await self._poll(conn)
        try:
            await self.db.call(
                self.db.store.finish_poll,
                conn.id,
                self.result.run_id,
                success=poll.success,
                now=self.clock(),
            )
        except StorageError as exc:
            self.result.error = self.result.error or exc
        self._leases.pop(conn.id, None)
        return poll

    async def _poll(self, conn: Connection) -> ConnectionPoll:
        blocked = self.result.platform_errors.get(conn.platform)
        if blocked is not None:
            return ConnectionPoll(conn, [], blocked.code, f"skipped: {blocked.message}")
        tokens = ConnectionTokens(
            conn,
            self.db,
            self.keyring,
            self.refresher,
            owner=self.result.run_id,
            clock=self.clock,
            lease_seconds=self.settings.lease_seconds,
        )
        api_base = self.settings.platforms[conn.platform].api_base or ""
        api = Api(
            self.client, api_base, tokens, platform=conn.platform, max_wait=self.settings.max_wait
        )
        results: list[EndpointResult] = []
        states: dict[str, SyncCursor] | None = None  # every endpoint's cursor, read once
        for endpoint in endpoints_for(conn.platform):
            try:
                if states is None:
                    states = await self.db.call(
                        self.db.store.sync_states, conn.user_id, conn.platform
                    )
                stored = states.get(endpoint.name, SyncCursor())
                results.append(await self._endpoint(conn, api, endpoint, stored))
            except (PermanentError, CryptoError, TokenUnavailableError) as exc:
                # A dead or unreadable token: stop using it at once (Discord bans IPs for less).
                results.append(
                    EndpointResult(
                        endpoint.name, False, error_code=exc.code, error_message=exc.message
                    )
                )
                break
            except RateLimitedError as exc:
                self.result.platform_errors.setdefault(conn.platform, exc)
                results.append(
                    EndpointResult(
                        endpoint.name, False, error_code=exc.code, error_message=exc.message
                    )
                )
                break
            except ProviderError as exc:
                await self._note_error(conn, endpoint.name, exc.code)
                results.append(
                    EndpointResult(
                        endpoint.name, False, error_code=exc.code, error_message=exc.message
                    )
                )
            except StorageError as exc:
                self.result.error = self.result.error or exc
                results.append(
                    EndpointResult(
                        endpoint.name, False, error_code=exc.code, error_message=exc.message
                    )
                )
                break
        return ConnectionPoll(conn, results)

    async def _endpoint(
        self, conn: Connection, api: Api, endpoint: Endpoint, stored: SyncCursor
    ) -> EndpointResult:
        name = endpoint.name
        state = SyncState(cursor=stored.cursor, etag=stored.etag, extra=stored.extra)

        async def known(keys: Sequence[str]) -> set[str]:
            return await self.db.call(
                self.db.store.known_keys, conn.user_id, conn.platform, name, list(keys)
            )

        ctx = PollContext(max_pages=self.settings.max_pages, now=self.clock, known_keys=known)
        fetched = new = changed = 0
        async for batch in endpoint.poll(api, state, ctx):
            items = [StoredItem(key=item.key, data=dict(item.data)) for item in batch.items]
            cursor = SyncCursor(
                cursor=batch.state.cursor, etag=batch.state.etag, extra=dict(batch.state.extra)
            )
            batch_new, batch_changed = await self.db.call(
                self.db.store.save_batch,
                conn.user_id,
                conn.platform,
                name,
                items,
                cursor,
                self.clock(),
            )
            fetched, new, changed = fetched + len(items), new + batch_new, changed + batch_changed
            await self._keep_lease(conn)
        return EndpointResult(name, True, fetched=fetched, new=new, stored=new + changed)

    async def _keep_lease(self, conn: Connection) -> None:
        # Renewed once a third of it has passed, not after every page: a round trip per page
        # was a sixth of a poll run's database calls.
        lease = timedelta(seconds=self.settings.lease_seconds)
        now = self.clock()
        if self._leases.get(conn.id, now) - now > lease * 2 / 3:
            return
        await self.db.call(
            self.db.store.extend_poll_lease, conn.id, self.result.run_id, now + lease
        )
        self._leases[conn.id] = now + lease

    async def _note_error(self, conn: Connection, endpoint: str, code: str) -> None:
        await self.db.call(
            self.db.store.record_poll_error,
            conn.user_id,
            conn.platform,
            endpoint,
            code,
            self.clock(),
        )


def _count(result: PollResult, poll: ConnectionPoll, keep: str) -> None:
    result.users.add(poll.connection.user_id)
    result.connections += 1
    result.successful += poll.success
    result.failed += not poll.success
    result.fetched += sum(e.fetched for e in poll.endpoints)
    result.stored += sum(e.stored for e in poll.endpoints)
    if keep == "all" or (keep == "failures" and not poll.success):
        result.polls.append(poll)


async def _dry_run(
    db: AsyncStore,
    settings: Settings,
    options: PollOptions,
    pollable: list[str],
    result: PollResult,
    clock: Clock,
) -> None:
    now, after = clock(), 0
    while pollable:
        page = await db.call(
            db.store.find_due_polls,
            now=now,
            pollable=pollable,
            after_id=after,
            limit=settings.batch_size,
            filters=options.filters,
        )
        result.connections += len(page)
        result.users.update(c.user_id for c in page)
        if options.keep == "all":
            result.due.extend(page)
        if len(page) < settings.batch_size:
            return
        after = page[-1].id

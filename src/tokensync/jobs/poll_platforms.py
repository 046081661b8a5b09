"""The poll-platforms run: claim connections to poll, run each endpoint adapter, store its batches.

Each batch an adapter yields (items and the cursor that covers them) is committed in one
transaction before the adapter is asked for the next, so a run that dies repeats some work next
time and loses nothing. Connections are claimed under a poll lease, apart from the token lease
that a refresh takes, so pollers and refreshers overlap safely.

Tombstones follow the same rule: what a batch says is gone, and what a walk that the batch ends
did not see, is marked in the batch's transaction. A walk's number (its generation) moves with the
batch that begins it, so a run that dies mid-walk leaves a walk that the next run carries on.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tokensync.errors import (
    ConnectionNotFoundError,
    CryptoError,
    LeaseLostError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    StorageError,
)
from tokensync.jobs.frame import due_pages, run_framed
from tokensync.jobs.options import PollOptions
from tokensync.jobs.poll_finishes import PollFinishes
from tokensync.jobs.results import ConnectionPoll, EndpointResult, PollResult
from tokensync.jobs.skipped import explain_skips
from tokensync.platforms.api import Api
from tokensync.platforms.endpoint import Batch, Endpoint, PollContext, SyncState
from tokensync.platforms.registry import endpoints_for, pollable_platforms
from tokensync.refresh.refresher import Refresher, unreadable_row
from tokensync.refresh.token_source import ConnectionTokens, TokenUnavailableError
from tokensync.runtime.claim_loop import claim_and_process
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.settings import Settings
from tokensync.store import Connection
from tokensync.store.models import (
    Announcement,
    BatchCounts,
    BatchWrite,
    StoredItem,
    SyncCursor,
)


async def run_poll(deps: Deps, options: PollOptions) -> PollResult:
    """One poll-platforms run."""
    result = PollResult(
        run_id=deps.owner,
        started_at=deps.clock.now(),
        dry_run=options.dry_run,
        fail_on=options.fail_on,
        keep=options.keep,
    )
    chosen = options.filters.platforms
    pollable = [p for p in pollable_platforms(deps.settings.platforms) if not chosen or p in chosen]

    if options.filters.users:
        result.acted_on = set()

    await run_framed(deps, options, result, _PollWork(deps, options, pollable, result))
    if result.acted_on is not None and result.error is None:
        result.skipped = await explain_skips(deps, options, result)
    return result


def _due_before(started: datetime, options: PollOptions, settings: Settings) -> datetime:
    """Poll what was due when the run started; with --force, every row this run has not
    claimed (a claim sets next_poll_at to poll_interval past its own time, after the start)."""
    if options.force:
        return started + timedelta(seconds=settings.poll_interval)
    return started


@dataclass(frozen=True)
class _PollWork:
    """poll-platforms inside the frame (jobs/frame.py): the claim loop over due connections, or
    a dry run's pages of them."""

    deps: Deps
    options: PollOptions
    pollable: list[str]
    result: PollResult

    async def work(self, refresher: Refresher, stop: StopSignal) -> None:
        """Claim due connections in batches and poll them, --concurrency at once."""
        poller = _Poller(self.deps, refresher, self.result)
        error = await claim_and_process(
            _DuePolls(self.deps, poller, self.options, self.pollable, self.result),
            concurrency=self.options.concurrency,
            queue_size=self.deps.settings.batch_size,
            stop=stop,
            clock=self.deps.clock,
        )
        await poller.finishes.drain()
        self.result.error = self.result.error or error  # a write of the poller's may be first

    async def dry_run(self) -> None:
        """Count (and with --results all, list) the connections due now, platform by platform."""
        now = self.deps.clock.now()
        for platform in self.pollable:
            find = functools.partial(self._find, now, platform)
            async for page in due_pages(find, self.deps.settings.batch_size):
                self.result.count_due(page, self.options.keep == "all")

    async def _find(self, now: datetime, platform: str, after_id: int) -> list[Connection]:
        db, settings = self.deps.db, self.deps.settings
        return await db.call(
            db.store.find_due_polls,
            now=now,
            platform=platform,
            after_id=after_id,
            limit=settings.batch_size,
            filters=self.options.filters,
            due_before=_due_before(now, self.options, settings),
        )


class _DuePolls:
    """The claim loop's batches for poll-platforms (runtime/claim_loop.py): each claim takes a
    share of a batch from every platform in turn (an index range scan per platform, and a batch
    spread over the platforms, whose caps are separate); a poll's own write ends its lease, and a
    poll renews it as it pages (_Poller._keep_lease), so no renewal runs beside them."""

    def __init__(
        self,
        deps: Deps,
        poller: _Poller,
        options: PollOptions,
        pollable: list[str],
        result: PollResult,
    ) -> None:
        self.deps, self.poller, self.options, self.result = deps, poller, options, result
        self.pollable = pollable
        self.share = max(1, deps.settings.batch_size // max(len(pollable), 1))

    async def claim(self) -> list[Connection]:
        """The next batch, leased to this run (none once a write failed the run)."""
        if self.result.error is not None:
            return []
        db, settings, now = self.deps.db, self.deps.settings, self.deps.clock.now()
        lease_until = now + timedelta(seconds=settings.lease_seconds)
        batch: list[Connection] = []
        for platform in self.pollable:
            claimed = await db.call(
                db.store.claim_due_polls,
                self.result.run_id,
                now=now,
                lease_until=lease_until,
                next_poll_at=now + timedelta(seconds=settings.poll_interval),
                due_before=_due_before(self.result.started_at, self.options, settings),
                platform=platform,
                limit=self.share,
                filters=self.options.filters,
            )
            if claimed:
                # Their cursors too, in one query for the batch rather than one for each poll:
                # a round trip in the way of every poll was a tenth of its time.
                users = [conn.user_id for conn in claimed]
                states = await db.call(db.store.sync_states_of, platform, users)
                self.poller.leased(claimed, lease_until, states)
            batch += claimed
        return batch

    async def process(self, conn: Connection) -> bool:
        """Poll one connection and count it; its lease is ended with a group of others."""
        poll = await self.poller.poll(conn)
        self.result.count(poll, self.options.keeps(poll.success))
        self.deps.progress(poll)
        return True

    async def release(self, ids: list[int]) -> None:
        """Give back the connections this run claimed and did not poll."""
        if self.result.error is None:
            await self.deps.db.call(self.deps.db.store.release_polls, ids, self.result.run_id)


class _Poller:
    """Polls one connection's endpoints; remembers platforms this run must leave alone."""

    def __init__(self, deps: Deps, refresher: Refresher, result: PollResult) -> None:
        self.deps, self.db, self.clock = deps, deps.db, deps.clock
        self.settings, self.refresher, self.result = deps.settings, refresher, result
        self._leases: dict[int, datetime] = {}  # connection id -> when its poll lease ends
        self._states: dict[int, dict[str, SyncCursor]] = {}  # connection id -> its cursors
        self.finishes = PollFinishes(deps.db, result.run_id, deps.clock, self._failed)

    def leased(
        self,
        batch: Sequence[Connection],
        until: datetime,
        states: Mapping[str, dict[str, SyncCursor]],
    ) -> None:
        """Note the poll leases a claim took, and the cursors read with it (by user id)."""
        self._leases.update((conn.id, until) for conn in batch)
        self._states.update((conn.id, states.get(conn.user_id, {})) for conn in batch)

    async def poll(self, conn: Connection) -> ConnectionPoll:
        """Poll every endpoint of one connection, then hand its poll lease over to be ended."""
        # The platform's slot covers every request of this poll, its token's refresh included.
        async with self.deps.limits.of(self.settings.platforms[conn.platform]):
            poll = await self._poll(conn)
        # Not awaited: a round trip in the way of every poll was a tenth of its time.
        self.finishes.add(conn.id, poll.success)
        self._leases.pop(conn.id, None)
        return poll

    def _failed(self, exc: StorageError) -> None:
        self.result.error = self.result.error or exc

    async def _poll(self, conn: Connection) -> ConnectionPoll:
        # The cursors read with the claim: this run holds the poll lease since, so they are the
        # ones stored (a lease that lapses before the poll is no different from one that lapses
        # during it: a walk's write is refused, a page of another endpoint is fetched again).
        states = self._states.pop(conn.id, None)
        unreadable = unreadable_row(conn)
        if unreadable is not None:  # polled again after poll_interval, like any failed poll
            return ConnectionPoll(conn, [], unreadable.code, unreadable.message)
        blocked = self.result.platform_errors.get(conn.platform)
        if blocked is not None:
            return ConnectionPoll(conn, [], blocked.code, f"skipped: {blocked.message}")
        tokens = ConnectionTokens(conn, self.deps, self.refresher)
        api_base = self.settings.platforms[conn.platform].api_base or ""
        api = Api(
            self.deps.http,
            api_base,
            tokens,
            platform=conn.platform,
            max_wait=self.settings.max_wait,
            sleep=self.clock.sleep,
            secrets=self.deps.secrets,
        )
        results: list[EndpointResult] = []
        for endpoint in endpoints_for(conn.platform):
            try:
                if states is None:
                    states = await self.db.call(
                        self.db.store.sync_states, conn.user_id, conn.platform
                    )
                stored = states.get(endpoint.name, SyncCursor())
                results.append(await self._endpoint(conn, api, endpoint, stored))
            except (
                PermanentError,
                CryptoError,
                TokenUnavailableError,
                ConnectionNotFoundError,
            ) as exc:
                # A dead, unreadable or removed token: stop using it at once (Discord bans IPs
                # for less).
                results.append(EndpointResult.failed(endpoint.name, exc))
                break
            except LeaseLostError as exc:
                # Another run polls this connection now: leave the rest of it to that run.
                results.append(EndpointResult.failed(endpoint.name, exc))
                break
            except RateLimitedError as exc:
                self.result.platform_errors.setdefault(conn.platform, exc)
                results.append(EndpointResult.failed(endpoint.name, exc))
                break
            except ProviderError as exc:
                await self._note_error(conn, endpoint.name, exc.code)
                results.append(EndpointResult.failed(endpoint.name, exc))
            except StorageError as exc:
                self.result.error = self.result.error or exc
                results.append(EndpointResult.failed(endpoint.name, exc))
                break
        return ConnectionPoll(conn, results, superseded=tokens.superseded)

    async def _endpoint(
        self, conn: Connection, api: Api, endpoint: Endpoint, stored: SyncCursor
    ) -> EndpointResult:
        name = endpoint.name
        state = SyncState(cursor=stored.cursor, etag=stored.etag, extra=stored.extra)
        store = self.db.store

        async def known(keys: Sequence[str]) -> set[str]:
            return await self.db.call(
                store.known_keys, conn.user_id, conn.platform, name, list(keys)
            )

        async def data_of(keys: Sequence[str]) -> dict[str, Mapping[str, object]]:
            found = await self.db.call(
                store.stored_data, conn.user_id, conn.platform, name, list(keys)
            )
            return dict(found)

        async def learned(account: str) -> None:
            await self.db.call(store.note_provider_user, conn.id, conn.grant_generation, account)

        ctx = PollContext(
            max_pages=self.settings.max_pages,
            now=self.clock.now,
            known_keys=known,
            stored_data=data_of,
            reconcile_interval=self.settings.reconcile_interval,
            account_known=conn.provider_user_id is not None,
            learned_account=learned,
        )
        fetched = 0
        total = BatchCounts()
        generation = stored.generation
        announced = False
        async for batch in endpoint.poll(api, state, ctx):
            write = _write(batch, generation)
            generation = write.state.generation
            # The batch that ends the poll writes its data.changed event in its own transaction.
            announce = Announcement(conn.id, total) if batch.final else None
            counts = await self.db.call(
                store.save_batch,
                conn.user_id,
                conn.platform,
                name,
                write,
                self.clock.now(),
                announce,
            )
            fetched += len(write.items)
            total = total.plus(counts)
            await self._keep_lease(conn)
            if batch.final:
                announced = True
                break
        if total.any and not announced:
            # The adapter could not tell which batch was its last: the event in a transaction
            # of its own, after the last one committed.
            await self.db.call(
                store.note_data_changed,
                conn.id,
                conn.user_id,
                conn.platform,
                name,
                total,
                self.clock.now(),
            )
        return EndpointResult(
            name,
            True,
            fetched=fetched,
            new=total.new,
            stored=total.new + total.changed,
            deleted=total.deleted,
        )

    async def _keep_lease(self, conn: Connection) -> None:
        # Renewed once a third of it has passed, not after every page: a round trip per page
        # was a sixth of a poll run's database calls.
        lease = timedelta(seconds=self.settings.lease_seconds)
        now = self.clock.now()
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
            self.clock.now(),
        )


def _write(batch: Batch, generation: int) -> BatchWrite:
    """What the store commits for a batch, given the walk generation stored before it."""
    walk = batch.walk
    state = batch.state
    return BatchWrite(
        items=[StoredItem(key=item.key, data=dict(item.data)) for item in batch.items],
        state=SyncCursor(
            cursor=state.cursor,
            etag=state.etag,
            extra=dict(state.extra),
            generation=generation + 1 if walk is not None and walk.begins else generation,
        ),
        seen=batch.seen,
        deleted=batch.deleted,
        sweep=walk.reason if walk is not None and walk.ends else None,
        walking_from=generation if walk is not None else None,
    )

"""Refreshing one leased connection, and acting on how it went. Shared by both jobs.

Every refresh goes through here: the compare-and-set on the lease just before the refresh token
is sent, the exchange, the new tokens stored at once (or spooled when the database is away), and
the failure classes acted on (a dead grant, our configuration, a rate limit, a transient fault).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import datetime, timedelta

from tokensync.crypto import binding
from tokensync.errors import (
    ClientConfigError,
    CryptoError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    StorageError,
    TokensyncError,
    UnreadableRowError,
)
from tokensync.oauth.revocation import Revocation
from tokensync.oauth.token_endpoint import TokenEndpoint, TokenSet
from tokensync.platforms.catalog import (
    Platform,
    credential_variables,
)
from tokensync.refresh.outcome import Outcome, Refreshed
from tokensync.refresh.storing import TokenWriter
from tokensync.runtime.backoff import backoff
from tokensync.runtime.deps import Deps
from tokensync.runtime.limits import Slots
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection
from tokensync.store.refreshing import lease_check
from tokensync.times import describe_range

REFRESHED, FAILED = Refreshed.REFRESHED, Refreshed.FAILED
NEEDS_REAUTH, SUPERSEDED = Refreshed.NEEDS_REAUTH, Refreshed.SUPERSEDED
_RATE_LIMIT_RETRIES = 3


class Refresher:
    """Refreshes connections whose lease the caller holds; remembers what a run must know."""

    def __init__(self, deps: Deps, stop: StopSignal, rng: random.Random | None = None) -> None:
        self._deps = deps
        self.stop = stop  # what a caller waiting to refresh through it stops on too
        self._db, self._keyring, self._settings = deps.db, deps.require_keyring(), deps.settings
        self._owner, self._clock = deps.owner, deps.clock
        self._rng = rng or random.Random()
        self._paused_until: dict[str, datetime] = {}
        self.broken: dict[str, TokensyncError] = {}
        self.storage_error: StorageError | None = None
        self.leases_lost = 0
        # A run's cap on requests in flight (its --concurrency), held like a platform's slot.
        self.requests: Slots | None = None
        self._writer = TokenWriter(deps, self._database_lost)
        self._endpoints: dict[str, TokenEndpoint] = {}  # by platform, each built once

    async def refresh(self, conn: Connection, *, holding_slot: bool = False) -> Outcome | None:
        """Refresh one connection, store the result at once, and classify any failure.

        None when no request was sent and the row was left as it was: the run is stopping, the
        database is away, or this run no longer holds the row's lease (another run has it).
        `holding_slot`: the caller holds the platform's slot already (a poll refreshing inline).
        """
        started = self._clock.monotonic()
        try:
            outcome = await self._refresh(conn, holding_slot)
        except StorageError as exc:
            self._database_lost(exc)
            outcome = Outcome.failed(conn, exc)
        if outcome is None:
            return None
        elapsed = int((self._clock.monotonic() - started) * 1000)
        return replace(outcome, elapsed_ms=elapsed)

    async def _refresh(self, conn: Connection, holding_slot: bool) -> Outcome | None:
        unreadable = unreadable_row(conn)
        if unreadable is not None:
            # Backed off like any failure: status lists it, and runs do not retry it each turn.
            return await self._failed(conn, unreadable)
        platform = self._platform(conn.platform)
        if platform is None:
            return Outcome.failed(conn, self.broken[conn.platform])
        try:
            refresh_token = self._keyring.decrypt(
                conn.refresh_token_enc or "",
                binding(conn.user_id, conn.platform, "refresh"),
                conn.label,
            )
        except CryptoError as exc:
            # Recorded with a back-off like any failure, so that status shows it and runs do not
            # retry it at every turn; a key restored later makes it refreshable again.
            return await self._failed(conn, exc)
        if holding_slot:
            sent = await self._exchange(conn, platform, refresh_token)
        else:
            sent = await self._exchange_in_slot(conn, platform, refresh_token)
        if not isinstance(sent, TokenSet):
            return sent
        if not holding_slot:
            # The slots given back woke the rows waiting for them. Their lease checks, and so
            # their requests, go first: this row's encryption and write wait one turn of the
            # loop, and nothing waits for them (docs/performance.md, "The next row first": 0.02
            # to 0.03 more of the bare client's rate, side by side).
            await asyncio.sleep(0)
        # Stored after the slots are given back: a slot stands for a request in flight, and the
        # next row's request need not wait for this row's write.
        return await self._writer.store(conn, platform, sent, refresh_token)

    async def _exchange_in_slot(
        self, conn: Connection, platform: Platform, refresh_token: str
    ) -> TokenSet | Outcome | None:
        limit = self._deps.limits.of(platform)
        if not await self.stop.acquire(limit):
            return None
        try:
            if self.requests is not None and not await self.stop.acquire(self.requests):
                return None
            try:
                return await self._exchange(conn, platform, refresh_token)
            finally:
                if self.requests is not None:
                    self.requests.give_back()
        finally:
            limit.give_back()

    async def _exchange(
        self, conn: Connection, platform: Platform, refresh_token: str
    ) -> TokenSet | Outcome | None:
        """Send the refresh (after the lease check); the new tokens, or what a failure became."""
        for attempt in range(_RATE_LIMIT_RETRIES + 1):
            if platform.name in self.broken:
                return Outcome.failed(conn, self.broken[platform.name])
            if not await self._wait_if_paused(platform.name) or not await self._may_send(conn):
                return None
            try:
                tokens = await self._endpoint(platform).refresh(
                    refresh_token,
                    timeout=self._settings.request_timeout,
                    secrets=self._deps.secrets,
                )
            except RateLimitedError as exc:
                wait = exc.retry_after if exc.retry_after is not None else 60.0
                self._paused_until[platform.name] = self._clock.now() + timedelta(seconds=wait)
                if wait <= self._settings.max_wait and attempt < _RATE_LIMIT_RETRIES:
                    continue
                return await self._failed(conn, exc, retry_in=wait)
            except PermanentError as exc:
                return await self._dead_grant(conn, refresh_token, exc)
            except ClientConfigError as exc:
                self.broken.setdefault(platform.name, exc)
                return Outcome.failed(conn, exc)
            except ProviderError as exc:
                return await self._failed(conn, exc)
            return tokens
        raise AssertionError("unreachable: the loop returns")

    def _endpoint(self, platform: Platform) -> TokenEndpoint:
        endpoint = self._endpoints.get(platform.name)
        if endpoint is None or endpoint.platform is not platform:
            endpoint = self._endpoints[platform.name] = TokenEndpoint(self._deps.http, platform)
        return endpoint

    async def _may_send(self, conn: Connection) -> bool:
        """The last check before a refresh token leaves: compare and set on the lease.

        Nothing is sent once the run is stopping or the database is away, and nothing is sent
        for a row whose lease this run lost or whose stored token changed: another run has it.
        The check extends the lease to cover the request, however long the row waited here.
        """
        if self.stop.is_set or self.storage_error is not None or conn.refresh_token_enc is None:
            return False
        now = self._clock.now()
        try:
            confirmed = await self._db.check_row(
                lease_check(
                    conn.id,
                    self._owner,
                    refresh_token_enc=conn.refresh_token_enc,
                    grant_generation=conn.grant_generation,
                    now=now,
                    lease_until=now + timedelta(seconds=self._settings.lease_seconds),
                )
            )
        except StorageError as exc:
            self._database_lost(exc)
            return False
        if not confirmed:
            self.leases_lost += 1
        return confirmed

    def _database_lost(self, exc: StorageError) -> None:
        # Finish what is in flight and spool it, but send nothing new: every further token
        # issued while the database is away would depend on the spool surviving.
        self.storage_error = self.storage_error or exc
        self.stop.set("database_error")

    def _platform(self, name: str) -> Platform | None:
        if name in self.broken:
            return None
        platform = self._settings.platforms.get(name)
        if platform is None:
            self.broken[name] = ClientConfigError(
                f"unknown platform {name!r}: define [platforms.{name}] in the config file",
                code="unknown_platform",
            )
            return None
        if not platform.has_credentials:
            self.broken[name] = ClientConfigError(
                f"no client credentials for {name}: set {credential_variables(name)}",
                code="missing_client_credentials",
            )
            return None
        return platform

    async def _wait_if_paused(self, platform: str) -> bool:
        until = self._paused_until.get(platform)
        if until is None:
            return True
        return await self.stop.sleep((until - self._clock.now()).total_seconds())

    async def _dead_grant(self, conn: Connection, used: str, exc: PermanentError) -> Outcome:
        # Re-read first: if another run rotated the token meanwhile, this refusal means nothing.
        fresh = await self._db.call(self._db.store.get_connection, conn.id)
        if fresh is not None and fresh.grant_generation != conn.grant_generation:
            # The application wrote a newer grant meanwhile, and the older one is dead (revoked
            # by that write, refresh/old_grants.py, or otherwise): superseded, nothing to revoke.
            ended = Revocation(True, already_invalid=True)
            return Outcome(conn, SUPERSEDED, revocation=ended)
        if fresh is None or fresh.refresh_token_enc is None or not self._writer.holds(fresh, used):
            return Outcome(conn, SUPERSEDED)
        marked = await self._db.call(
            self._db.store.mark_needs_reauth,
            conn.id,
            self._owner,
            refresh_token_enc=fresh.refresh_token_enc,
            grant_generation=fresh.grant_generation,
            code=exc.code,
            message=exc.message,
            now=self._clock.now(),
        )
        if not marked:
            return Outcome(conn, SUPERSEDED)
        return Outcome(conn, NEEDS_REAUTH, error_code=exc.code, error_message=exc.message)

    async def _failed(
        self, conn: Connection, exc: TokensyncError, retry_in: float | None = None
    ) -> Outcome:
        now = self._clock.now()
        if retry_in is None:
            retry_in = backoff(
                conn.failure_count + 1,
                self._settings.backoff_base,
                self._settings.backoff_max,
                self._rng,
            )
        next_attempt = now + timedelta(seconds=retry_in)
        await self._db.call(
            self._db.store.record_failure,
            conn.id,
            self._owner,
            code=exc.code,
            message=exc.message,
            next_attempt_at=next_attempt,
            now=now,
            grant_generation=conn.grant_generation,
        )
        return Outcome(
            conn,
            FAILED,
            error_code=exc.code,
            error_message=exc.message,
            next_attempt_at=next_attempt,
        )


def unreadable_row(conn: Connection) -> UnreadableRowError | None:
    """The failure of a row whose expiry (the one stored time the jobs act on) another program
    wrote as no time this program can read; None when it is readable. Other unreadable times
    are shown as null by `tokens list` and overwritten by the jobs' own writes."""
    if "expires_at" not in conn.unreadable:
        return None
    return UnreadableRowError(
        f"{conn.label}: its stored expires_at is not a time tokensync can read (it must lie "
        f"{describe_range()}); re-import the connection to repair it"
    )

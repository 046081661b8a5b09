"""Refreshing one leased connection, and acting on how it went. Shared by both jobs."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import httpx

from tokensync.crypto import Keyring, binding
from tokensync.errors import (
    ClientConfigError,
    CryptoError,
    PermanentError,
    ProviderError,
    RateLimitedError,
    StorageError,
    TokensyncError,
)
from tokensync.jobs.runtime import AsyncStore, Clock, StopSignal, backoff
from tokensync.oauth import TokenSet, refresh_grant
from tokensync.settings import Platform, Settings
from tokensync.spool import Spool
from tokensync.store import Connection

REFRESHED, FAILED, NEEDS_REAUTH, SUPERSEDED = "refreshed", "failed", "needs_reauth", "superseded"
_SAVE_ATTEMPTS = 3
_RATE_LIMIT_RETRIES = 3
# A lifetime past this is not one (1e12 s overflows a datetime): the platform's default is used.
_MAX_LIFETIME = 10 * 366 * 86400


@dataclass(frozen=True)
class Outcome:
    """What happened to one connection."""

    connection: Connection
    kind: str
    new_expiry: datetime | None = None
    rotated: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    next_attempt_at: datetime | None = None
    spooled: bool = False
    warning: str | None = None
    access_token: str | None = field(default=None, repr=False)
    elapsed_ms: int = 0

    def log_fields(self) -> dict[str, object]:
        """What a log line says of this outcome: ids, outcome, timing; never a secret."""
        fields: dict[str, object] = {
            "connectionId": self.connection.id,
            "platform": self.connection.platform,
            "userId": self.connection.user_id,
            "outcome": self.kind,
            "durationMs": self.elapsed_ms,
        }
        if self.error_code:
            fields["error"] = self.error_code
        return fields

    @property
    def success(self) -> bool:
        """Whether the connection is fine after this run."""
        return self.kind in (REFRESHED, SUPERSEDED)

    @property
    def status(self) -> str:
        """The connection's status afterwards."""
        return "needs_reauth" if self.kind == NEEDS_REAUTH else self.connection.status


async def apply_spool(db: AsyncStore, spool: Spool, clock: Clock) -> int:
    """Store the token sets a previous run could not; return how many were applied."""
    applied = 0
    for path, entry in spool.pending():
        stored = await db.call(
            db.store.apply_spooled,
            entry.connection_id,
            entry.user_id,
            entry.platform,
            access_token_enc=entry.access_token_enc,
            refresh_token_enc=entry.refresh_token_enc,
            expires_at=datetime.fromisoformat(entry.expires_at) if entry.expires_at else None,
            issued_at=datetime.fromisoformat(entry.issued_at),
            now=clock(),
        )
        applied += stored
        spool.done(path)
    return applied


class Refresher:
    """Refreshes connections whose lease the caller holds; remembers what a run must know."""

    def __init__(
        self,
        db: AsyncStore,
        client: httpx.AsyncClient,
        keyring: Keyring,
        settings: Settings,
        spool: Spool,
        *,
        owner: str,
        clock: Clock,
        stop: StopSignal,
        rng: random.Random | None = None,
    ) -> None:
        self._db, self._client, self._keyring = db, client, keyring
        self._settings, self._spool = settings, spool
        self._owner, self._clock, self._stop = owner, clock, stop
        self._rng = rng or random.Random()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._paused_until: dict[str, datetime] = {}
        self.broken: dict[str, TokensyncError] = {}
        self.storage_error: StorageError | None = None
        self.leases_lost = 0

    async def refresh(self, conn: Connection) -> Outcome | None:
        """Refresh one connection, store the result at once, and classify any failure.

        None when no request was sent and the row was left as it was: the run is stopping, the
        database is away, or this run no longer holds the row's lease (another run has it).
        """
        started = time.monotonic()
        try:
            outcome = await self._refresh(conn)
        except StorageError as exc:
            self._database_lost(exc)
            outcome = Outcome(conn, FAILED, error_code=exc.code, error_message=exc.message)
        if outcome is None:
            return None
        return replace(outcome, elapsed_ms=int((time.monotonic() - started) * 1000))

    async def _refresh(self, conn: Connection) -> Outcome | None:
        platform = self._platform(conn.platform)
        if platform is None:
            error = self.broken[conn.platform]
            return Outcome(conn, FAILED, error_code=error.code, error_message=error.message)
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
        limit = self._limits.setdefault(platform.name, asyncio.Semaphore(platform.concurrency))
        if not await self._stop.acquire(limit):
            return None
        try:
            return await self._exchange(conn, platform, refresh_token)
        finally:
            limit.release()

    async def _exchange(
        self, conn: Connection, platform: Platform, refresh_token: str
    ) -> Outcome | None:
        for attempt in range(_RATE_LIMIT_RETRIES + 1):
            if platform.name in self.broken:
                error = self.broken[platform.name]
                return Outcome(conn, FAILED, error_code=error.code, error_message=error.message)
            if not await self._wait_if_paused(platform.name) or not await self._may_send(conn):
                return None
            try:
                tokens = await refresh_grant(
                    self._client,
                    platform,
                    refresh_token,
                    timeout=self._settings.request_timeout,
                )
            except RateLimitedError as exc:
                wait = exc.retry_after if exc.retry_after is not None else 60.0
                self._paused_until[platform.name] = self._clock() + timedelta(seconds=wait)
                if wait <= self._settings.max_wait and attempt < _RATE_LIMIT_RETRIES:
                    continue
                return await self._failed(conn, exc, retry_in=wait)
            except PermanentError as exc:
                return await self._dead_grant(conn, refresh_token, exc)
            except ClientConfigError as exc:
                self.broken.setdefault(platform.name, exc)
                return Outcome(conn, FAILED, error_code=exc.code, error_message=exc.message)
            except ProviderError as exc:
                return await self._failed(conn, exc)
            return await self._store(conn, platform, tokens)
        raise AssertionError("unreachable: the loop returns")

    async def _may_send(self, conn: Connection) -> bool:
        """The last check before a refresh token leaves: compare and set on the lease.

        Nothing is sent once the run is stopping or the database is away, and nothing is sent
        for a row whose lease this run lost or whose stored token changed: another run has it.
        The check extends the lease to cover the request, however long the row waited here.
        """
        if self._stop.is_set or self.storage_error is not None or conn.refresh_token_enc is None:
            return False
        now = self._clock()
        try:
            confirmed = await self._db.call(
                self._db.store.confirm_lease,
                conn.id,
                self._owner,
                refresh_token_enc=conn.refresh_token_enc,
                now=now,
                lease_until=now + timedelta(seconds=self._settings.lease_seconds),
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
        self._stop.set("database_error")

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
            upper = name.upper()
            self.broken[name] = ClientConfigError(
                f"no client credentials for {name}: set TOKENSYNC_{upper}_CLIENT_ID and "
                f"TOKENSYNC_{upper}_CLIENT_SECRET",
                code="missing_client_credentials",
            )
            return None
        return platform

    async def _wait_if_paused(self, platform: str) -> bool:
        until = self._paused_until.get(platform)
        if until is None:
            return True
        return await self._stop.sleep((until - self._clock()).total_seconds())

    async def _store(self, conn: Connection, platform: Platform, tokens: TokenSet) -> Outcome:
        now = self._clock()
        seconds, warning = tokens.expires_in, tokens.warning
        if seconds is None or not 0 <= seconds <= _MAX_LIFETIME:
            seconds = platform.default_expires_in
        expires_at = now + timedelta(seconds=seconds) if seconds is not None else None
        access_enc = self._keyring.encrypt(
            tokens.access_token, binding(conn.user_id, conn.platform, "access")
        )
        refresh_enc = (
            self._keyring.encrypt(
                tokens.refresh_token, binding(conn.user_id, conn.platform, "refresh")
            )
            if tokens.refresh_token
            else None
        )
        rotated = tokens.refresh_token is not None
        saved, error = await self._save(conn, access_enc, refresh_enc, expires_at, now)
        if saved:
            return Outcome(
                conn,
                REFRESHED,
                expires_at,
                rotated,
                warning=warning,
                access_token=tokens.access_token,
            )
        if error is None:
            return Outcome(
                conn,
                FAILED,
                error_code="lease_lost",
                error_message=f"{conn.label}: another writer replaced the tokens while this "
                "refresh ran; the stored tokens were kept",
            )
        self._spool.put(
            conn.id,
            conn.user_id,
            conn.platform,
            access_token_enc=access_enc,
            refresh_token_enc=refresh_enc,
            expires_at=expires_at,
            issued_at=now,
        )
        self._database_lost(error)
        return Outcome(
            conn,
            REFRESHED,
            expires_at,
            rotated,
            spooled=True,
            warning=warning,
            error_code=error.code,
            error_message="the database could not take the new tokens; they are kept in the "
            "local spool and stored by the next run",
            access_token=tokens.access_token,
        )

    async def _save(
        self,
        conn: Connection,
        access_enc: str,
        refresh_enc: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> tuple[bool, StorageError | None]:
        error: StorageError | None = None
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                saved = await self._db.call(
                    self._db.store.save_refreshed,
                    conn.id,
                    self._owner,
                    access_token_enc=access_enc,
                    refresh_token_enc=refresh_enc,
                    previous_refresh_enc=conn.refresh_token_enc,
                    expires_at=expires_at,
                    now=now,
                )
                return saved, None
            except StorageError as exc:
                error = exc
                if attempt + 1 < _SAVE_ATTEMPTS:
                    await asyncio.sleep(0.2 * 2**attempt)
        return False, error

    async def _dead_grant(self, conn: Connection, used: str, exc: PermanentError) -> Outcome:
        # Re-read first: if another run rotated the token meanwhile, this refusal means nothing.
        fresh = await self._db.call(self._db.store.get_connection, conn.id)
        if fresh is None or fresh.refresh_token_enc is None or not self._same_refresh(fresh, used):
            return Outcome(conn, SUPERSEDED)
        marked = await self._db.call(
            self._db.store.mark_needs_reauth,
            conn.id,
            self._owner,
            refresh_token_enc=fresh.refresh_token_enc,
            code=exc.code,
            message=exc.message,
            now=self._clock(),
        )
        if not marked:
            return Outcome(conn, SUPERSEDED)
        return Outcome(conn, NEEDS_REAUTH, error_code=exc.code, error_message=exc.message)

    def _same_refresh(self, fresh: Connection, used: str) -> bool:
        try:
            stored = self._keyring.decrypt(
                fresh.refresh_token_enc or "",
                binding(fresh.user_id, fresh.platform, "refresh"),
                fresh.label,
            )
        except CryptoError:
            return False
        return stored == used

    async def _failed(
        self, conn: Connection, exc: TokensyncError, retry_in: float | None = None
    ) -> Outcome:
        now = self._clock()
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
        )
        return Outcome(
            conn,
            FAILED,
            error_code=exc.code,
            error_message=exc.message,
            next_attempt_at=next_attempt,
        )

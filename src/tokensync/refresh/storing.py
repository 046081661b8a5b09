"""Storing what a refresh got, for the grant generation it was refreshed from: saved; adopted by
a write of the very same grant meanwhile; superseded by a newer grant the application wrote (not
stored, and revoked where that ends the older grant alone); or, with the database away, spooled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tokensync.crypto import binding
from tokensync.errors import (
    CryptoError,
    ProviderError,
    StorageError,
)
from tokensync.oauth.revocation import GrantTokens, Revocation, plan, revoke
from tokensync.oauth.token_endpoint import TokenSet
from tokensync.platforms.catalog import (
    BUILTIN_PLATFORMS,
    USER_WIDE_REVOCATION,
    Platform,
)
from tokensync.refresh.outcome import Outcome, Refreshed
from tokensync.runtime.deps import Deps
from tokensync.store import Connection
from tokensync.store.refreshing import refreshed_save

REFRESHED, FAILED = Refreshed.REFRESHED, Refreshed.FAILED
SUPERSEDED = Refreshed.SUPERSEDED
_SAVE_ATTEMPTS = 3
# A lifetime past this is not one (1e12 s overflows a datetime): the platform's default is used.
_MAX_LIFETIME = 10 * 366 * 86400


class TokenWriter:
    """Stores refreshed tokens for the Refresher (refresher.py); `database_lost` is told when the
    database stops answering."""

    def __init__(self, deps: Deps, database_lost: Callable[[StorageError], None]) -> None:
        self._deps = deps
        self._db, self._keyring = deps.db, deps.require_keyring()
        self._owner, self._clock = deps.owner, deps.clock
        self._database_lost = database_lost

    async def store(
        self, conn: Connection, platform: Platform, tokens: TokenSet, sent: str
    ) -> Outcome:
        """Store the tokens a refresh of `conn` got (having sent `sent`): its outcome."""
        now = self._clock.now()
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
        grant_end = (
            now + timedelta(seconds=tokens.refresh_expires_in)
            if tokens.refresh_expires_in is not None
            else None
        )
        saved, error = await self._save(conn, access_enc, refresh_enc, expires_at, now, grant_end)
        if not saved and error is None:
            # Not stored: is a newer grant there? (Or, read again, the very grant this refresh
            # rotated, written again by the application: then these tokens are its own.)
            fresh, saved, error = await self._adopted_by_newer_write(
                conn, sent, access_enc, refresh_enc, expires_at, now, grant_end
            )
            newer = fresh is None or fresh.grant_generation != conn.grant_generation
            if newer and not saved and error is None:
                return await self._superseded(conn, platform, tokens, sent)
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
        self._database_lost(error)
        try:
            self._deps.spool.put(
                conn.id,
                conn.user_id,
                conn.platform,
                access_token_enc=access_enc,
                refresh_token_enc=refresh_enc,
                expires_at=expires_at,
                issued_at=now,
                grant_generation=conn.grant_generation,
            )
        except OSError as exc:
            return Outcome(
                conn,
                FAILED,
                error_code="spool_unwritable",
                error_message=f"{conn.label}: the database could not take the new tokens and the "
                f"local spool ({self._deps.spool.directory}) could not be written "
                f"({exc.strerror or type(exc).__name__}): the tokens issued are lost; the stored "
                "ones are kept, and if the provider rotated the refresh token the user must "
                "connect again",
            )
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

    async def _adopted_by_newer_write(
        self,
        conn: Connection,
        sent: str,
        access_enc: str,
        refresh_enc: str | None,
        expires_at: datetime | None,
        now: datetime,
        grant_end: datetime | None,
    ) -> tuple[Connection | None, bool, StorageError | None]:
        """After a save that matched nothing: the row as it is now, and whether the tokens were
        stored after all, because the grant written meanwhile holds the refresh token this
        refresh sent (the application saved the same grant again)."""
        try:
            fresh = await self._db.call(self._db.store.get_connection, conn.id)
        except StorageError as exc:
            return conn, False, exc
        if (
            fresh is None
            or fresh.grant_generation == conn.grant_generation
            or fresh.refresh_token_enc is None
            or not self.holds(fresh, sent)
        ):
            return fresh, False, None
        saved, error = await self._save(fresh, access_enc, refresh_enc, expires_at, now, grant_end)
        return fresh, saved, error

    async def _superseded(
        self, conn: Connection, platform: Platform, tokens: TokenSet, sent: str
    ) -> Outcome:
        """The application wrote a newer grant (or removed the connection) while this refresh
        of the older one ran: its tokens are not stored, and are revoked where that ends the
        older grant alone. The connection is fine: this is no failure."""
        # A provider that did not rotate gave no new refresh token: the one sent is the older
        # grant's, still alive, and it is what ends that grant.
        grant = GrantTokens(tokens.access_token, tokens.refresh_token or sent)
        revocation = await revoke_superseded(self._deps, platform, grant)
        return Outcome(conn, SUPERSEDED, revocation=revocation)

    async def _save(
        self,
        conn: Connection,
        access_enc: str,
        refresh_enc: str | None,
        expires_at: datetime | None,
        now: datetime,
        grant_end: datetime | None,
    ) -> tuple[bool, StorageError | None]:
        error: StorageError | None = None
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                saved = await self._db.write_row(
                    refreshed_save(
                        conn.id,
                        self._owner,
                        access_token_enc=access_enc,
                        refresh_token_enc=refresh_enc,
                        previous_refresh_enc=conn.refresh_token_enc,
                        grant_generation=conn.grant_generation,
                        expires_at=expires_at,
                        now=now,
                        refresh_token_expires_at=grant_end,
                    )
                )
                return saved, None
            except StorageError as exc:
                error = exc
                if attempt + 1 < _SAVE_ATTEMPTS:
                    await self._clock.sleep(0.2 * 2**attempt)
        return False, error

    def holds(self, fresh: Connection, used: str) -> bool:
        """Whether the row as read again still holds the refresh token `used`."""
        try:
            stored = self._keyring.decrypt(
                fresh.refresh_token_enc or "",
                binding(fresh.user_id, fresh.platform, "refresh"),
                fresh.label,
            )
        except CryptoError:
            return False
        return stored == used


async def revoke_superseded(deps: Deps, platform: Platform, grant: GrantTokens) -> Revocation:
    """Revoke tokens of a grant the application replaced (never stored), where that ends the
    older grant alone (`revoke_superseded`); best effort: a failure is reported, not raised."""
    if not platform.revoke_superseded:
        reason = (
            platform.no_revocation or USER_WIDE_REVOCATION
            if platform.revocation is None or platform.name in BUILTIN_PLATFORMS
            else f"[platforms.{platform.name}] revoke_superseded is false"
        )
        return Revocation(False, reason=reason)
    try:
        return await revoke(
            deps.http,
            platform,
            grant,
            timeout=deps.settings.request_timeout,
            secrets=deps.secrets,
        )
    except ProviderError as exc:
        return Revocation(
            False,
            endpoint=plan(platform, platform.name).endpoint,
            reason=f"the revocation failed ({exc.code}): {exc.message}",
        )

"""A connection's access token: decrypted when fresh, refreshed under the token lease when not.

Used by polling (the token source of the API client) and by `tokens get`, which differ only in
how fresh a token must be (`margin`) and how long they wait for another process that holds the
lease (`wait`). Either way the wait ends with the token that process stored: never a second use
of a refresh token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta

from tokensync.crypto import binding
from tokensync.errors import (
    ConnectionNotFoundError,
    PermanentError,
    StorageError,
    TransientError,
)
from tokensync.oauth.revocation import Revocation
from tokensync.refresh.refresher import NEEDS_REAUTH, REFRESHED, SUPERSEDED, Refresher
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection

EXPIRY_MARGIN = timedelta(minutes=1)
# How long a poll waits for another run's refresh of a token it needs.
POLL_LEASE_WAIT = 10.0
# How often a waiting caller looks whether the lease holder has stored its token.
_LOOK_EVERY = 0.25


class TokenUnavailableError(TransientError):
    """No usable access token for this connection now: its refresh failed or another process kept
    the lease; `code` says which (the refresh failure's code, `busy`, `not_refreshed`)."""

    code = "token_unavailable"


async def lease_attempts(
    deps: Deps, conn: Connection, wait: float, stop: StopSignal, *, any_status: bool = False
) -> AsyncGenerator[Connection | None, None]:
    """Claim the token lease of a connection for `deps.owner`, again and again for up to `wait`
    seconds: yields None after each wait for the process that holds it (the caller may look at
    what that process stored), then the leased row once the lease is ours. Raises `busy` when
    the holder kept it the whole time, `stopped` as soon as `stop` is set (SIGTERM)."""
    db, clock, lease = deps.db, deps.clock, timedelta(seconds=deps.settings.lease_seconds)
    deadline = clock.monotonic() + wait
    while True:
        now = clock.now()
        leased = await db.call(
            db.store.claim_one,
            conn.id,
            deps.owner,
            now=now,
            lease_until=now + lease,
            any_status=any_status,
        )
        if leased is not None:
            yield leased
            return
        if clock.monotonic() >= deadline:
            raise TokenUnavailableError(
                f"{conn.label}: another process kept the token lease for {wait:g} s; try again",
                code="busy",
            )
        if not await stop.sleep(_LOOK_EVERY):
            raise TokenUnavailableError(f"{conn.label}: stopped while waiting", code="stopped")
        yield None


class ConnectionTokens:
    """The access token of one connection, for the poll job's API client and for `tokens get`."""

    def __init__(
        self,
        conn: Connection,
        deps: Deps,
        refresher: Refresher,
        *,
        margin: timedelta = EXPIRY_MARGIN,
        wait: float = POLL_LEASE_WAIT,
    ) -> None:
        self._conn, self._refresher, self._deps = conn, refresher, deps
        self._db, self._keyring, self._clock = deps.db, deps.require_keyring(), deps.clock
        self._owner = deps.owner
        self._margin, self._wait = margin, wait
        self._token: str | None = None
        self._expires_at = conn.expires_at
        self._failure: TokenUnavailableError | None = None
        # A token newer than the one first read is in use (refreshed here or by another process).
        self.refreshed = False
        # This process's own refresh issued it.
        self.issued_here = False
        # This process refreshed a grant the application replaced meanwhile: what became of the
        # older grant's tokens (the newer grant's token is the one in use).
        self.superseded: Revocation | None = None

    @property
    def connection(self) -> Connection:
        """The row the token in use was read from (before a refresh of our own)."""
        return self._conn

    @property
    def expires_at(self) -> datetime | None:
        """When the token in use expires (None: never)."""
        return self._expires_at

    def expiring(self, conn: Connection | None = None) -> bool:
        """Whether the stored token expires within the margin."""
        expires = (conn or self._conn).expires_at
        return expires is not None and expires - self._clock.now() <= self._margin

    async def access_token(self) -> str:
        """The current access token, refreshed first when it expires within the margin."""
        if self._token is None:
            if self.expiring():
                return await self.refreshed_token()
            self._token = self._decrypt(self._conn)
        return self._token

    async def refreshed_token(self) -> str:
        """A token newer than the one read: refreshed through the same lease and code as
        refresh-tokens, or the one another process stored while this one waited for it."""
        if self._failure is not None:
            raise self._failure
        if self.refreshed and self._token is not None:
            raise PermanentError(
                f"{self._conn.label}: the platform refused a freshly refreshed token",
                code="unauthorized",
                status=401,
            )
        attempts = lease_attempts(self._deps, self._conn, self._wait, self._refresher.stop)
        async with contextlib.aclosing(attempts) as tries:
            async for leased in tries:
                if leased is not None:
                    if leased.access_token_enc != self._conn.access_token_enc:
                        # Another process refreshed between our read and this claim: its token
                        # is as new as ours would be, and a second refresh would only burn one.
                        await self._db.call(self._db.store.release, [leased.id], self._owner)
                        return self._adopt(leased)
                    return await self._refresh(leased)
                # Another process holds the token lease: it is refreshing right now. Has it
                # stored its token yet?
                fresh = await self._db.call(self._db.store.get_connection, self._conn.id)
                if fresh is None:
                    raise ConnectionNotFoundError(f"{self._conn.label} was removed meanwhile")
                if fresh.status != "active":
                    raise PermanentError(f"{self._conn.label} is {fresh.status}", code=fresh.status)
                if fresh.access_token_enc != self._conn.access_token_enc:
                    return self._adopt(fresh)
        raise AssertionError("unreachable: lease_attempts ends in a lease or raises")

    def _adopt(self, conn: Connection) -> str:
        self._conn, self.refreshed = conn, True
        self._expires_at = conn.expires_at
        self._token = self._decrypt(conn)
        return self._token

    async def _refresh(self, leased: Connection) -> str:
        # A poll holds the platform's slot already: the refresh is one of its requests.
        outcome = await self._refresher.refresh(leased, holding_slot=True)
        if outcome is None:
            # Nothing was sent: the run is stopping, the database is away, or another run took
            # the lease. Either way this run has no token for the connection.
            with contextlib.suppress(StorageError):
                await self._db.call(self._db.store.release, [leased.id], self._owner)
            self._failure = TokenUnavailableError(
                f"{self._conn.label}: not refreshed in this run", code="not_refreshed"
            )
            raise self._failure
        self.refreshed = True
        if outcome.kind == REFRESHED and outcome.access_token:
            self._token, self._expires_at = outcome.access_token, outcome.new_expiry
            self.issued_here = True
            return self._token
        if outcome.kind == NEEDS_REAUTH:
            raise PermanentError(
                outcome.error_message or "needs re-authorisation", code="needs_reauth"
            )
        if outcome.kind == SUPERSEDED:
            self.superseded = outcome.revocation
            fresh = await self._db.call(self._db.store.get_connection, self._conn.id)
            if fresh is not None:
                await self._db.call(self._db.store.release, [fresh.id], self._owner)
                return self._adopt(fresh)
        await self._db.call(self._db.store.release, [leased.id], self._owner)
        self._failure = TokenUnavailableError(
            outcome.error_message or f"{self._conn.label}: the token could not be refreshed",
            code=outcome.error_code or "refresh_failed",
        )
        raise self._failure

    def _decrypt(self, conn: Connection) -> str:
        return self._keyring.decrypt(
            conn.access_token_enc, binding(conn.user_id, conn.platform, "access"), conn.label
        )

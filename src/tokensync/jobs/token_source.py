"""A polling connection's access token: decrypted when fresh, refreshed under the token lease."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from tokensync.crypto import binding
from tokensync.errors import PermanentError, StorageError, TransientError
from tokensync.jobs.deps import Deps
from tokensync.jobs.refresher import NEEDS_REAUTH, REFRESHED, SUPERSEDED, Refresher
from tokensync.store import Connection

EXPIRY_MARGIN = timedelta(minutes=1)
# How long to wait for another run's refresh: 20 looks, half a second apart.
_LEASE_WAITS = 20
_LEASE_WAIT = 0.5


class TokenUnavailableError(TransientError):
    """No usable access token for this connection in this run: stop polling it."""

    code = "token_unavailable"


class ConnectionTokens:
    """The TokenSource of one connection, for the API client of the poll job."""

    def __init__(self, conn: Connection, deps: Deps, refresher: Refresher) -> None:
        self._conn, self._refresher = conn, refresher
        self._db, self._keyring, self._clock = deps.db, deps.require_keyring(), deps.clock
        self._owner, self._lease = deps.owner, deps.settings.lease_seconds
        self._token: str | None = None
        self._failure: TokenUnavailableError | None = None
        self.refreshed = False

    async def access_token(self) -> str:
        """The current access token, refreshed first when it expires within a minute."""
        if self._token is None:
            expires = self._conn.expires_at
            if expires is not None and expires - self._clock.now() <= EXPIRY_MARGIN:
                return await self.refreshed_token()
            self._token = self._decrypt(self._conn)
        return self._token

    async def refreshed_token(self) -> str:
        """Refresh through the same lease and code as refresh-tokens; return the new token."""
        if self._failure is not None:
            raise self._failure
        if self.refreshed and self._token is not None:
            raise PermanentError(
                f"{self._conn.label}: the platform refused a freshly refreshed token",
                code="unauthorized",
                status=401,
            )
        for _ in range(_LEASE_WAITS):
            now = self._clock.now()
            leased = await self._db.call(
                self._db.store.claim_one,
                self._conn.id,
                self._owner,
                now=now,
                lease_until=now + timedelta(seconds=self._lease),
            )
            if leased is not None:
                return await self._refresh(leased)
            # Another run holds the token lease: it is refreshing right now. Wait for it.
            await self._clock.sleep(_LEASE_WAIT)
            fresh = await self._db.call(self._db.store.get_connection, self._conn.id)
            if fresh is None or fresh.status != "active":
                raise PermanentError(f"{self._conn.label} is no longer active", code="inactive")
            if fresh.access_token_enc != self._conn.access_token_enc:
                self._conn, self.refreshed = fresh, True
                self._token = self._decrypt(fresh)
                return self._token
        raise TokenUnavailableError(
            f"{self._conn.label}: another run kept the token lease", code="busy"
        )

    async def _refresh(self, leased: Connection) -> str:
        # The poll holds the platform's slot already: the refresh is one of its requests.
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
            self._token = outcome.access_token
            return self._token
        if outcome.kind == NEEDS_REAUTH:
            raise PermanentError(
                outcome.error_message or "needs re-authorisation", code="needs_reauth"
            )
        if outcome.kind == SUPERSEDED:
            fresh = await self._db.call(self._db.store.get_connection, self._conn.id)
            if fresh is not None:
                await self._db.call(self._db.store.release, [fresh.id], self._owner)
                self._conn = fresh
                self._token = self._decrypt(fresh)
                return self._token
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

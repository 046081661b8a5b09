"""`tokens get`: a fresh access token for the application, refreshed first when it must be.

The refresh goes through the token source's lease and the Refresher, as every refresh does; a
caller that finds another process holding the lease waits for the token that process stores.
A token is never returned expired: a connection that needs re-authorisation, is unknown, or
cannot be refreshed now raises a TokensyncError whose `code` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tokensync.errors import (
    EXIT_OK,
    ConnectionNotFoundError,
    PermanentError,
    TransientError,
    UsageError,
)
from tokensync.oauth.revocation import Revocation
from tokensync.refresh.refresher import Refresher, unreadable_row
from tokensync.refresh.spooled import apply_spool
from tokensync.refresh.token_source import ConnectionTokens
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection

# The default --min-ttl: a token handed out lives at least this long, or is refreshed first.
DEFAULT_MIN_TTL = 300.0


@dataclass(frozen=True)
class AccessToken:
    """A connection's access token, fresh for at least the time asked (or not expiring)."""

    user_id: str
    platform: str
    connection_id: int
    access_token: str = field(repr=False)
    token_type: str
    scope: str | None
    expires_at: datetime | None  # None: the token does not expire
    refreshed: bool  # this call refreshed it (not another process it waited for)
    # This call refreshed a grant the application replaced meanwhile: the token is the newer
    # grant's, and this says what became of the older grant's new tokens.
    superseded: Revocation | None = None

    @property
    def success(self) -> bool:
        """Always: a failure is raised, not returned."""
        return True

    def log_fields(self) -> dict[str, object]:
        """What a -v log line says of it: ids and the outcome, never the token."""
        return {
            "connectionId": self.connection_id,
            "platform": self.platform,
            "outcome": "refreshed" if self.refreshed else "fresh",
        }

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


async def active_connection(deps: Deps, user_id: str, platform: str) -> Connection:
    """The active connection of (user, platform), whose token may be handed out or used (`tokens
    get`, `tokensync api`); raises not_found, the row's unreadable error, or its status (the user
    must connect again)."""
    # A token set spooled while the database was away is newer than the stored one, whose
    # refresh token the provider may have spent already.
    await apply_spool(deps)
    conn = await deps.db.call(deps.db.store.find_connection, user_id, platform)
    if conn is None:
        raise ConnectionNotFoundError(f"no {platform} connection for user {user_id!r}")
    unreadable = unreadable_row(conn)
    if unreadable is not None:  # whether its token is fresh cannot be told
        raise unreadable
    if conn.status != "active":
        raise PermanentError(
            f"{conn.label} is {conn.status}: the user must connect again", code=conn.status
        )
    return conn


async def get_token(
    deps: Deps,
    stop: StopSignal,
    user_id: str,
    platform: str,
    *,
    min_ttl: float = DEFAULT_MIN_TTL,
    force_refresh: bool = False,
) -> AccessToken:
    """The access token of (user, platform), refreshed first if it expires within `min_ttl`
    seconds (or whatever its expiry, with `force_refresh`)."""
    if platform not in deps.settings.platforms:
        raise UsageError(f"unknown platform {platform!r}")
    if min_ttl < 0:
        raise UsageError("min_ttl must not be negative")
    conn = await active_connection(deps, user_id, platform)
    # An application asked for a refresh (docs/node.md): this call answers it.
    force_refresh = force_refresh or conn.refresh_requested_at is not None
    tokens = ConnectionTokens(
        conn,
        deps,
        Refresher(deps, stop),
        margin=timedelta(seconds=min_ttl),
        wait=deps.settings.request_timeout,
    )
    if conn.refresh_token_enc is None and (force_refresh or tokens.expiring()):
        raise PermanentError(
            f"{conn.label} has no refresh token, and its access token expires within the "
            f"{min_ttl:g} s asked for: the user must connect again",
            code="not_refreshable",
        )
    token = await (tokens.refreshed_token() if force_refresh else tokens.access_token())
    expires_at = tokens.expires_at
    if expires_at is not None and expires_at <= deps.clock.now():
        # A provider that answered expires_in 0, say: what it issued is of no use either.
        raise TransientError(f"{conn.label}: the access token expired already", code="expired")
    row = tokens.connection
    return AccessToken(
        user_id=row.user_id,
        platform=row.platform,
        connection_id=row.id,
        access_token=token,
        token_type=row.token_type,
        scope=row.scope,
        expires_at=expires_at,
        refreshed=tokens.issued_here,
        superseded=tokens.superseded,
    )

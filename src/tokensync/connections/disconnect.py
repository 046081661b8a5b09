"""`tokens disconnect`: revoke a grant at its provider, then delete what tokensync holds of it:
its tokens and cursors; its items stay as tombstones ('disconnected') that the change feed
hands out, until `data prune` removes them (an erase deletes them at once).

All of it under the token lease: a refresh in flight finishes (and stores) first, and no refresh
can store a new token after the revocation. A revocation that fails deletes nothing. The rows go
in one transaction, and only while their tokens are still the ones revoked: a user who connects
again meanwhile (a re-import) keeps the new grant.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from tokensync.errors import (
    EXIT_OK,
    PermanentError,
    StorageError,
    TransientError,
    UsageError,
)
from tokensync.oauth.revocation import Revocation, decrypted_grant, plan, revoke
from tokensync.platforms.catalog import Platform
from tokensync.refresh.old_grants import revoke_replaced
from tokensync.refresh.refresher import Refresher
from tokensync.refresh.spooled import apply_spool
from tokensync.refresh.token_source import ConnectionTokens, lease_attempts
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection
from tokensync.store.models import TableCounts
from tokensync.store.removal import USER_TABLES, ItemRemoval

NOT_ASKED = (
    "not asked to revoke (--no-revoke; revoke=False in Python): the grant stays valid at the "
    "provider"
)

# A connection the user revoked at the provider (revocations ingest) holds no grant to revoke.
REVOKED_BY_USER = "the user revoked the grant at the provider already: nothing to revoke"


@dataclass(frozen=True)
class Disconnection:
    """What a disconnect did to one connection (or, in a dry run, would do)."""

    user_id: str
    platform: str
    connection_id: int | None  # None: there was no such connection
    revocation: Revocation
    deleted: TableCounts  # rows per table: deleted, or that a dry run would delete
    dry_run: bool = False

    @property
    def success(self) -> bool:
        """Always: a failure is raised, not returned."""
        return True

    def log_fields(self) -> dict[str, object]:
        """What a -v log line says of it: ids and outcome, never a user id or a token."""
        return {
            "connectionId": self.connection_id,
            "platform": self.platform,
            "outcome": "dry_run" if self.dry_run else "disconnected",
            "revoked": self.revocation.revoked,
        }

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


async def disconnect(
    deps: Deps,
    stop: StopSignal,
    user_id: str,
    platform: str,
    *,
    revoke: bool = True,
    keep_data: bool = False,
    dry_run: bool = False,
) -> Disconnection:
    """Disconnect (user, platform). Without such a connection, what an earlier `keep_data`
    disconnect left is removed (unless kept again), and nothing is revoked."""
    if platform not in deps.settings.platforms:
        raise UsageError(f"unknown platform {platform!r}")
    if not dry_run:
        # A token set spooled while the database was away is the one the provider knows now.
        await apply_spool(deps)
    conn = await deps.db.call(deps.db.store.find_connection, user_id, platform)
    if conn is not None:
        items: ItemRemoval = "keep" if keep_data else "tombstone"
        return await remove_connection(
            deps, stop, conn, revoke=revoke, items=items, dry_run=dry_run
        )
    none = Revocation(False, reason="no such connection: nothing to revoke")
    if keep_data:
        return Disconnection(user_id, platform, None, none, _nothing(), dry_run)
    db = deps.db
    if dry_run:
        counts = await db.call(db.store.count_user_rows, user_id, [platform], live_items=True)
    else:
        now = deps.clock.now()
        counts = await db.call(db.store.disconnect_user_rows, user_id, [platform], now)
    return Disconnection(user_id, platform, None, none, counts, dry_run)


async def remove_connection(
    deps: Deps,
    stop: StopSignal,
    conn: Connection,
    *,
    revoke: bool,
    items: ItemRemoval,
    dry_run: bool,
) -> Disconnection:
    """Revoke one connection's grant (unless not asked to), delete its row and cursors, and
    remove its items as `items` says."""
    platform = deps.settings.platforms.get(conn.platform)
    db = deps.db
    if dry_run:
        live = items == "tombstone"
        counts = await db.call(
            db.store.count_user_rows, conn.user_id, [conn.platform], live_items=live
        )
        if items == "keep":
            counts["user_platform_data"] = 0
        if not revoke:
            planned = Revocation(False, reason=NOT_ASKED)
        elif conn.status == "revoked":
            planned = Revocation(False, reason=REVOKED_BY_USER)
        else:
            planned = plan(platform, conn.platform)
        return Disconnection(conn.user_id, conn.platform, conn.id, planned, counts, dry_run=True)
    if revoke:
        # A grant this connection replaced, not revoked yet, goes before the row that names it.
        await revoke_replaced(deps, [conn.id])
    dead = False
    if revoke and platform is not None and platform.revocation == "github":
        dead = await _fresh_github_token(deps, stop, conn)
    leased = await _hold_lease(deps, stop, conn)
    try:
        if not revoke:
            revocation = Revocation(False, reason=NOT_ASKED)
        elif leased.status == "revoked":
            revocation = Revocation(False, reason=REVOKED_BY_USER)
        elif dead:
            endpoint = plan(platform, conn.platform).endpoint
            revocation = Revocation(True, endpoint=endpoint, already_invalid=True)
        else:
            revocation = await _revoke(deps, platform, leased)
        deleted = await db.call(
            db.store.delete_connection,
            leased,
            deps.owner,
            items=items,
            revoked=revocation.revoked,
            now=deps.clock.now(),
        )
    except BaseException:
        with contextlib.suppress(StorageError):
            await db.call(db.store.release, [leased.id], deps.owner)
        raise
    if deleted is None:
        with contextlib.suppress(StorageError):
            await db.call(db.store.release, [leased.id], deps.owner)
        done = "revoked at the provider, but " if revocation.revoked else ""
        raise TransientError(
            f"{conn.label}: {done}its tokens changed meanwhile (connected again?): nothing was "
            "deleted; run the disconnect again if it still should go",
            code="changed_meanwhile",
        )
    return Disconnection(conn.user_id, conn.platform, conn.id, revocation, deleted)


async def _hold_lease(deps: Deps, stop: StopSignal, conn: Connection) -> Connection:
    """The token lease of the connection, whatever its status, once its holder is done."""
    attempts = lease_attempts(deps, conn, _lease_wait(deps), stop, any_status=True)
    async with contextlib.aclosing(attempts) as tries:
        async for leased in tries:
            if leased is not None:
                return leased
    raise AssertionError("unreachable: lease_attempts ends in a lease or raises")


def _lease_wait(deps: Deps) -> float:
    """How long a disconnect waits for another holder of the lease: a refresh exchange in flight
    ends within twice request_timeout (each read is bounded by it, the whole exchange by two)."""
    return 2 * deps.settings.request_timeout


async def _fresh_github_token(deps: Deps, stop: StopSignal, conn: Connection) -> bool:
    """GitHub revokes only with a valid access token: refresh an expired one first, through the
    lease and the Refresher like any refresh. True when the grant turned out dead already."""
    if conn.status != "active" or conn.refresh_token_enc is None:
        return False
    tokens = ConnectionTokens(conn, deps, Refresher(deps, stop), wait=_lease_wait(deps))
    try:
        await tokens.access_token()
    except PermanentError:
        return True  # the refresh was refused: GitHub has ended the grant itself
    return False


async def _revoke(deps: Deps, platform: Platform | None, conn: Connection) -> Revocation:
    if platform is None or platform.revocation is None:
        return plan(platform, conn.platform)
    grant = decrypted_grant(
        deps.require_keyring(),
        conn.user_id,
        conn.platform,
        conn.access_token_enc,
        conn.refresh_token_enc,
        conn.label,
    )
    return await revoke(
        deps.http,
        platform,
        grant,
        timeout=deps.settings.request_timeout,
        secrets=deps.secrets,
    )


def _nothing() -> TableCounts:
    return dict.fromkeys(USER_TABLES, 0)

"""`users erase`: disconnect every connection of a user (revoking each), then remove every row and
spooled token set that names them, with a receipt.

Each connection goes as `tokens disconnect` takes it (the same code). One whose revocation fails
keeps everything of its own; the rest of the user's rows are removed only once no connection is
left, so that running the erase again finishes it. An unknown or already erased user is erased
with zeros.

Events: the user's earlier events go with their rows (delivered or not: the connection.disconnected
events of this very erase too), and one user.erased event, written in the transaction that removes
the last of them, holds the user id alone, until it is delivered or dead (docs/application.md,
"Erasing a user"): the application is told, and nothing else of the user stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tokensync.connections.disconnect import Disconnection, remove_connection
from tokensync.errors import StorageError, TokensyncError, TransientError, exit_code_of
from tokensync.refresh.spooled import apply_spool
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.store import Connection
from tokensync.store.models import TableCounts
from tokensync.store.outbox import DELIVERY_WINDOW
from tokensync.store.removal import USER_TABLES


@dataclass(frozen=True)
class EraseFailure:
    """A connection of the user that could not be disconnected: nothing of it was removed."""

    connection: Connection
    error: TokensyncError


@dataclass
class Erasure:
    """The receipt of an erase: per connection what was revoked where (or why not), and the rows
    removed per table, spool entries included (a dry run: what it would remove)."""

    user_id: str
    dry_run: bool = False
    connections: list[Disconnection] = field(default_factory=list)
    failures: list[EraseFailure] = field(default_factory=list)
    deleted: TableCounts = field(
        default_factory=lambda: dict.fromkeys((*USER_TABLES, "events", "spool"), 0)
    )
    # The user.erased event this erase wrote, and when at the latest it lets go of the user id
    # (sooner, once delivered).
    event_id: str | None = None
    event_holds_until: datetime | None = None

    @property
    def success(self) -> bool:
        """Every connection was disconnected and nothing of the user is left."""
        return not self.failures

    def add(self, counts: TableCounts) -> None:
        """Count removed rows into the totals."""
        for table, n in counts.items():
            self.deleted[table] = self.deleted.get(table, 0) + n

    @property
    def exit_code(self) -> int:
        """1 when something failed (Concluded)."""
        return exit_code_of(self.success)


async def erase_user(
    deps: Deps, stop: StopSignal, user_id: str, *, revoke: bool = True, dry_run: bool = False
) -> Erasure:
    """Erase a user: revoke and delete each connection, then whatever else names them."""
    db, spool = deps.db, deps.spool
    receipt = Erasure(user_id, dry_run=dry_run)
    if dry_run:
        receipt.add(await db.call(db.store.count_user_rows, user_id))
        receipt.add({"events": await db.call(db.store.count_user_events, user_id)})
        spooled = len(spool.of_user(user_id))
    else:
        spooled = sum(1 for _, entry in spool.pending() if entry.user_id == user_id)
        # Spooled tokens are the newest the provider issued: stored first, they are the ones
        # revoked; then they go with the rows.
        await apply_spool(deps)
    for conn in await db.call(db.store.user_connections, [user_id]):
        try:
            done = await remove_connection(
                deps, stop, conn, revoke=revoke, items="delete", dry_run=dry_run
            )
        except StorageError:
            raise
        except TokensyncError as exc:
            receipt.failures.append(EraseFailure(conn, exc))
            continue
        receipt.connections.append(done)
        if not dry_run:
            receipt.add(done.deleted)
        deps.progress(done)
    if dry_run or receipt.failures:
        receipt.add({"spool": spooled})
        return receipt
    removed = spool.of_user(user_id)
    for path in removed:
        spool.done(path)
    receipt.add({"spool": spooled + len(removed)})
    before = len(receipt.connections) + receipt.deleted["spool"]
    now = deps.clock.now()
    counts, receipt.event_id = await db.call(
        db.store.finish_erasure, user_id, erased_before=before, now=now
    )
    receipt.add(counts)
    await db.call(db.store.scrub_deleted)
    if receipt.event_id is not None:
        receipt.event_holds_until = now + DELIVERY_WINDOW
    await _nothing_left(deps, receipt)
    return receipt


async def _nothing_left(deps: Deps, receipt: Erasure) -> None:
    """A connection imported while the erase ran (a user connecting again) is not erased
    silently: the receipt fails, naming it."""
    for conn in await deps.db.call(deps.db.store.user_connections, [receipt.user_id]):
        receipt.failures.append(
            EraseFailure(
                conn,
                TransientError(
                    f"{conn.label} was connected while the erase ran: run the erase again",
                    code="connected_meanwhile",
                ),
            )
        )

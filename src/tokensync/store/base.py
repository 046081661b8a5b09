"""The repository interface the jobs use, implemented once over an engine's few primitives.

An engine (sqlite.py, postgres.py) supplies: running a named query, a write transaction that
rolls back unless it completes, the claim transaction, and its migrations. Everything else (what
the jobs ask for, in the jobs' words) lives here, so the two engines cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib import resources

from tokensync.errors import NoDatabaseError, SchemaTooNewError, SchemaTooOldError
from tokensync.store.changes import ChangesMixin
from tokensync.store.engine import filter_params
from tokensync.store.importing import ImportMixin
from tokensync.store.models import (
    Connection,
    Filters,
)
from tokensync.store.outbox import OutboxMixin
from tokensync.store.polling import PollingMixin
from tokensync.store.refreshing import RefreshMixin
from tokensync.store.removal import RemovalMixin
from tokensync.store.replaced import ReplacedGrantsMixin
from tokensync.store.reporting import ReportingMixin
from tokensync.store.revocations import RevocationMixin
from tokensync.store.webhook_queue import WebhookQueueMixin


def migrations(engine: str) -> list[tuple[int, str]]:
    """The numbered migrations of an engine, in order."""
    folder = resources.files("tokensync.store").joinpath("migrations", engine)
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_\w+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Store(
    RefreshMixin,
    ReportingMixin,
    ImportMixin,
    PollingMixin,
    RemovalMixin,
    RevocationMixin,
    ReplacedGrantsMixin,
    ChangesMixin,
    OutboxMixin,
    WebhookQueueMixin,
):
    """One database of connections, polled data, sync state, runs and events."""

    # -- schema ------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The newest migration applied to this database (0 when empty)."""
        versions = self._applied_versions()
        return versions[-1] if versions else 0

    def migrate(self, now: datetime) -> list[int]:
        """Apply the missing migrations in order; refuse a schema newer than this program."""
        known = migrations(self.engine)
        latest = known[-1][0] if known else 0
        applied = set(self._applied_versions())
        current = max(applied, default=0)
        if current > latest:
            raise SchemaTooNewError(
                f"the database schema is version {current}, newer than this tokensync "
                f"(which knows up to {latest}): upgrade tokensync"
            )
        # Every one not applied, a lower number that landed after a higher one too (branches
        # number their migrations apart).
        return [v for v, script in known if v not in applied and self._apply(v, script, now)]

    def require_schema(self, where: str, *, older_ok: bool = False) -> None:
        """For a command that only reads: the schema must be this program's, since only a
        migration may create or change it (never a typo's empty database). `where` names the
        database in the message. `older_ok`: any tokensync schema will do (a command that
        removes, which migrates an older one but never creates one)."""
        known = migrations(self.engine)
        latest = known[-1][0] if known else 0
        applied = set(self._applied_versions())
        current = max(applied, default=0)
        if current == 0:
            raise NoDatabaseError(
                f"{where} holds no tokensync schema: check the database URL, or create the "
                "schema with `tokensync db migrate`"
            )
        if current > latest:
            raise SchemaTooNewError(
                f"the database schema is version {current}, newer than this tokensync "
                f"(which knows up to {latest}): upgrade tokensync"
            )
        missing = [v for v, _ in known if v not in applied]
        if missing and not older_ok:
            older = (
                f"version {current}, older than this tokensync ({latest})"
                if current < latest
                else f"without migration {', '.join(map(str, missing))} of this tokensync"
            )
            raise SchemaTooOldError(
                f"the database schema is {older}: run `tokensync db migrate` (or let a job run, "
                "which migrates)"
            )

    def database_id(self) -> str:
        """The identity this database holds (made by migration 2), the same whatever the URL."""
        rows = self._run("database_id", {})
        return str(rows[0]["database_id"])

    # -- connections -------------------------------------------------------------------------

    def iter_connections(
        self,
        filters: Filters = Filters(),  # noqa: B008 - frozen, so one shared default is safe
        *,
        statuses: Sequence[str] = (),
        after_id: int = 0,
        limit: int | None = None,
        page: int = 500,
    ) -> Iterator[Connection]:
        """The connections matching the filters (and any of `statuses`), by id, after `after_id`,
        at most `limit`: read a page at a time, so memory stays flat however many there are."""
        left = limit
        while left is None or left > 0:
            size = page if left is None else min(page, left)
            rows = self.connection_page(filters, statuses, after_id, size)
            yield from rows
            if len(rows) < size:
                return
            after_id = rows[-1].id
            if left is not None:
                left -= len(rows)

    def connection_page(
        self, filters: Filters, statuses: Sequence[str], after_id: int, limit: int
    ) -> list[Connection]:
        """One page of iter_connections: one status reads its own index."""
        params = {"after_id": after_id, "limit": limit, **filter_params(filters)}
        if len(statuses) == 1:
            rows = self._run("list_connections_by_status", {**params, "status": statuses[0]})
        else:
            all_statuses = {"all_statuses": not statuses, "statuses": list(statuses)}
            rows = self._run("list_connections", {**params, **all_statuses})
        return [self._connection(r) for r in rows]

    def has_connections(self) -> bool:
        """Whether any connection (and so any token encrypted with some key) is stored."""
        return bool(self._run("has_connections", {})[0]["present"])

    def newest_ciphertexts(self, limit: int) -> list[str]:
        """The access-token ciphertexts of the newest `limit` connections (a keyring's sample)."""
        rows = self._run("newest_ciphertexts", {"limit": limit})
        return [str(r["access_token_enc"]) for r in rows]

    def get_connection(self, connection_id: int) -> Connection | None:
        """One connection by id."""
        rows = self._run("get_connection", {"id": connection_id})
        return self._connection(rows[0]) if rows else None

    def find_connection(self, user_id: str, platform: str) -> Connection | None:
        """One connection by its user and platform."""
        rows = self._run("find_connection", {"user_id": user_id, "platform": platform})
        return self._connection(rows[0]) if rows else None

    def user_connections(self, user_ids: Sequence[str]) -> list[Connection]:
        """Every connection of these users, whatever its status, by id."""
        return [
            self._connection(r) for r in self._run("user_connections", {"users": list(user_ids)})
        ]

    # -- key rotation --------------------------------------------------------------------------

    def token_page(self, after_id: int, limit: int) -> list[Connection]:
        """A page of connections by id, for re-encryption."""
        rows = self._run("token_page", {"after_id": after_id, "limit": limit})
        return [self._connection(r) for r in rows]

    def replace_ciphertexts(
        self, updates: Sequence[tuple[int, str, str | None, str, str | None]]
    ) -> int:
        """Swap (id, old access, old refresh, new access, new refresh) where still unchanged."""
        done = 0
        with self.transaction():
            for cid, old_access, old_refresh, new_access, new_refresh in updates:
                params = {
                    "id": cid,
                    "old_access": old_access,
                    "old_refresh": old_refresh,
                    "new_access": new_access,
                    "new_refresh": new_refresh,
                }
                done += self._rowcount("replace_ciphertexts", params)
        return done

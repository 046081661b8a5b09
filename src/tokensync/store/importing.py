"""What `tokens import` asks of the store: many connections written in one transaction.

Rows arrive from an iterator (the import parses, checks and encrypts each line as it is read)
and are written in chunks: each chunk is staged in a temporary table (PostgreSQL: COPY; SQLite:
one prepared insert), checked for a connection named twice (within the chunk, and against the
keys of earlier chunks, kept in a second temporary table); then one INSERT writes a
connection.recovered event for each connection that exists and was not active (the outbox,
store/outbox.py), one UPDATE replaces the connections that exist and, if some did not, one INSERT
adds those. A worker thread does the database's part of chunk k while the caller's thread
prepares chunk k+1: encryption (about 17 us a line) and the upsert (about 14 us a line on
PostgreSQL) then overlap on two cores instead of adding up, and at most three chunks are in
memory however long the file.

Everything runs in one transaction: a bad line, a duplicate or a signal at any row rolls it
back, and nothing is written, no event either.
"""

from __future__ import annotations

import queue
import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import islice

from tokensync import interrupts
from tokensync.errors import ImportFormatError, StorageError
from tokensync.store.engine import Engine
from tokensync.store.models import ImportCounts, NewTokens
from tokensync.store.outbox import DELIVERY_WINDOW

# Rows per chunk: 5,000 rows are about 4 MB of objects; three chunks at most are alive at once.
CHUNK_ROWS = 5000
_DONE = None


class ImportMixin(Engine):
    """The import's queries, shared by both engines."""

    def upsert_connections(
        self, rows: Iterable[NewTokens], now: datetime, replaced: Sequence[str] = ()
    ) -> ImportCounts:
        """Insert or replace the tokens of each (user, platform), all in one transaction.

        A connection named twice is refused with both line numbers (a row's `line`, or its
        position when 0). A row with `keep_refresh` keeps the refresh token a connection has.
        The grants of the platforms in `replaced` that a row replaces are kept in
        replaced_grants, to be revoked once this commits (refresh/old_grants.py).
        """
        with self.transaction():
            self._prepare_import()
            self._rowcount("create_import_staging", {})
            self._rowcount("create_import_seen", {})
            counts = _Applier(self, now, tuple(replaced)).run(_chunks(_numbered(rows)))
            self._rowcount("drop_import_staging", {})
            self._rowcount("drop_import_seen", {})
        return counts

    def _apply_chunk(
        self, chunk: Sequence[NewTokens], now: datetime, replaced: Sequence[str] = ()
    ) -> ImportCounts:
        """Stage one chunk, refuse a connection named twice, upsert it; its counts.

        The duplicate check is the insertion of the chunk's keys into import_seen: a key seen
        before is not inserted, the count falls short, and only then are the two lines looked
        up. The UPDATE replaces the connections that exist; the INSERT, needed only when some did
        not, adds the rest, each row's unique-index insertion being its only probe.
        """
        self._stage_import(chunk)
        if self._rowcount("remember_import_keys", {}) < len(chunk):
            row = self._run("find_import_duplicate", {})[0]
            raise ImportFormatError(
                f"lines {row['first']} and {row['line']} are both user {row['user_id']!r} "
                f"on {row['platform']}: a file may name each connection once"
            )
        # A dead grant connected again is a recovery: its event is written before the UPDATE
        # sets it active, in this same transaction (a refused import writes none).
        give_up_at = now + DELIVERY_WINDOW
        self._rowcount("import_recovered", {"now": now, "give_up_at": give_up_at})
        old = 0
        if replaced:
            params = {"now": now, "platforms": list(replaced)}
            old = self._rowcount("import_replaced_grants", params)
        updated = self._rowcount("import_update", {"now": now})
        inserted = 0
        if updated < len(chunk):
            inserted = self._rowcount("import_insert", {"now": now})
        if updated + inserted < len(chunk):
            # Another writer added one of these connections between the two statements.
            raise StorageError(
                "connections being imported were added meanwhile by another writer; nothing was "
                "imported: run the import again"
            )
        self._rowcount("clear_import_staging", {})
        return ImportCounts(inserted=inserted, updated=updated, replaced_grants=old)

    @abstractmethod
    def _stage_import(self, rows: Sequence[NewTokens]) -> None:
        """Write the rows into import_staging."""

    def _prepare_import(self) -> None:
        """Whatever the engine needs before the first chunk, inside the import's transaction."""


class _Applier:
    """Hands chunks to a worker thread that applies them one after another, on the store's
    connection, inside the caller's transaction."""

    def __init__(self, store: ImportMixin, now: datetime, replaced: Sequence[str]) -> None:
        self._store, self._now, self._replaced = store, now, replaced
        self._chunks: queue.Queue[list[NewTokens] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._counts = ImportCounts(inserted=0, updated=0)

    def run(self, chunks: Iterator[list[NewTokens]]) -> ImportCounts:
        """Apply every chunk; the first failure (of `chunks`, a signal, or the database) is
        raised once the worker has stopped, for the transaction to roll back."""
        worker = threading.Thread(target=self._work, name="tokensync-import", daemon=True)
        worker.start()
        try:
            for chunk in chunks:
                if not self._hand_over(chunk):
                    break  # the worker failed: its error is raised below
            else:
                self._hand_over(_DONE)
            worker.join()  # a signal may interrupt this wait, like any other
        except BaseException:
            # The worker uses the connection: it must have stopped before the rollback. It ends
            # the chunk in hand (a fraction of a second); a second signal meanwhile is noted.
            self._abort.set()
            with interrupts.deferred():
                worker.join()
            raise
        if self._error is not None:
            raise self._error
        return self._counts

    def _hand_over(self, chunk: list[NewTokens] | None) -> bool:
        """Queue a chunk (or the end) for the worker; False if the worker failed first."""
        while self._error is None:
            try:
                self._chunks.put(chunk, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        while not self._abort.is_set():
            try:
                chunk = self._chunks.get(timeout=0.2)
            except queue.Empty:
                continue
            if chunk is _DONE:
                return
            try:
                done = self._store._apply_chunk(chunk, self._now, self._replaced)
            except BaseException as exc:
                self._error = exc
                return
            self._counts = ImportCounts(
                inserted=self._counts.inserted + done.inserted,
                updated=self._counts.updated + done.updated,
                replaced_grants=self._counts.replaced_grants + done.replaced_grants,
            )


def _chunks(rows: Iterable[NewTokens]) -> Iterator[list[NewTokens]]:
    it = iter(rows)
    while chunk := list(islice(it, CHUNK_ROWS)):
        yield chunk


def _numbered(rows: Iterable[NewTokens]) -> Iterator[NewTokens]:
    for position, row in enumerate(rows, start=1):
        yield row if row.line else replace(row, line=position)

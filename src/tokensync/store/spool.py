"""The local spool: freshly issued tokens that the database could not take, kept for the next run.

Each entry is one file, written atomically with mode 0600, holding the tokens already encrypted
and bound to their row: the spool holds no plaintext secret. Entries carry the identity that the
database itself holds (its `tokensync_database` row), not anything derived from the URL: a run that
reaches the same database as `localhost` instead of `127.0.0.1`, or with a rotated password, still
applies them, and a spool shared by two databases applies each entry to its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class SpoolEntry:
    """A token set issued by a provider and not yet stored."""

    database: str
    connection_id: int
    user_id: str
    platform: str
    access_token_enc: str = field(repr=False)
    refresh_token_enc: str | None = field(repr=False)
    expires_at: str | None
    issued_at: str
    # The grant the tokens were refreshed from (None in entries written before schema 8): a newer
    # grant written since wins, and these tokens are revoked instead of stored.
    grant_generation: int | None = None


def url_fingerprint(url: str) -> str:
    """How entries spooled before schema 2 named their database (a hash of the URL's text)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class Spool:
    """A directory of pending token sets of one database."""

    def __init__(self, directory: Path, database_id: str, *, legacy_names: tuple[str, ...] = ()):
        self.directory = directory
        self.database = database_id
        self._names = {database_id, *legacy_names}

    def put(
        self,
        connection_id: int,
        user_id: str,
        platform: str,
        *,
        access_token_enc: str,
        refresh_token_enc: str | None,
        expires_at: datetime | None,
        issued_at: datetime,
        grant_generation: int | None = None,
    ) -> Path:
        """Keep a token set on disk, durably, before anything else happens."""
        entry = SpoolEntry(
            database=self.database,
            connection_id=connection_id,
            user_id=user_id,
            platform=platform,
            access_token_enc=access_token_enc,
            refresh_token_enc=refresh_token_enc,
            expires_at=expires_at.isoformat() if expires_at else None,
            issued_at=issued_at.isoformat(),
            grant_generation=grant_generation,
        )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{issued_at.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex}.json"
        final = self.directory / name
        temp = self.directory / f".{name}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(entry), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _fsync_dir(self.directory)
        return final

    def pending(self) -> Iterator[tuple[Path, SpoolEntry]]:
        """This database's entries, oldest first (files of other databases are left alone)."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = SpoolEntry(**json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue
            if entry.database in self._names:
                yield path, entry

    def done(self, path: Path) -> None:
        """Forget an entry once the database holds it."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def of_user(self, user_id: str) -> list[Path]:
        """The files of this database that name a user: its entries, and the partial files a
        process killed while writing one left behind (never applied, never cleaned up)."""
        found = [path for path, entry in self.pending() if entry.user_id == user_id]
        if self.directory.is_dir():
            named = f'"user_id": {json.dumps(user_id)}'
            for path in sorted(self.directory.glob(".*.tmp")):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    if named in path.read_text(encoding="utf-8"):
                        found.append(path)
        return found


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

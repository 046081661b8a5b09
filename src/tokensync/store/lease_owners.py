"""Which lease owners still live, for SQLite: a lock file each, held with flock while they live.

A lease on a SQLite row is judged by this host's clock, which can jump (an NTP step, a resumed
VM, libfaketime). So that no jump lets a second process take a row whose refresh token is in
flight, each owner holds an exclusive flock on a file of its own, in a directory beside the
database, for as long as it lives; the kernel drops the lock when the process ends, however it
ends. Another process asks `alive(owner)`: a file it can lock is an owner that is gone (the file
is removed then).

flock locks belong to an open file, not to a process: two owners of one process (a client's
operations, the test suite) see each other as alive, as two processes would.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path


def owner_lock_dir(database: Path) -> Path:
    """Where the lock files of a database's lease owners live: beside it, named after it."""
    return database.with_name(database.name + "-owners")


def _name(owner: str) -> str:
    # Owners are run ids; a hash keeps any owner a plain file name.
    return hashlib.sha256(owner.encode()).hexdigest()[:32] + ".lock"


class OwnerLocks:
    """The lock files of one database's lease owners."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, int] = {}

    def hold(self, owner: str) -> None:
        """Take `owner`'s lock, kept until drop() or this process ends."""
        if owner in self._held:
            return
        self.directory.mkdir(mode=0o700, exist_ok=True)
        # Locked under a private name, then renamed into place: no other process ever finds the
        # file unlocked, and takes a live owner for a gone one.
        temp = self.directory / f".{_name(owner)}.{os.getpid()}.{id(self)}"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(temp, self.directory / _name(owner))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        self._held[owner] = fd

    def drop(self, owner: str) -> None:
        """Give `owner`'s lock up and remove its file."""
        fd = self._held.pop(owner, None)
        if fd is None:
            return
        with contextlib.suppress(OSError):
            (self.directory / _name(owner)).unlink()
        os.close(fd)

    def drop_all(self) -> None:
        """Give up every lock this store holds."""
        for owner in list(self._held):
            self.drop(owner)

    def alive(self, owner: str | None) -> bool:
        """Whether `owner` holds its lock now (an SQL function: called for leased rows only)."""
        if owner is None:
            return False
        if owner in self._held:
            return True
        path = self.directory / _name(owner)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False  # never held here (or removed once it was gone)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held by a live owner
        else:
            with contextlib.suppress(OSError):
                path.unlink()
            return False
        finally:
            os.close(fd)

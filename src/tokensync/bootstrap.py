"""The one place where settings become collaborators: the store, the keyring, the HTTP client,
the spool and the clock, bundled for a job run (`job_deps`) or opened alone for the commands
that need only the store."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx

from tokensync.crypto import Keyring, create_keys_file, read_keys_file
from tokensync.errors import ConfigError
from tokensync.http.transport import http_client
from tokensync.jobs.clock import Clock, SystemClock
from tokensync.jobs.database import AsyncStore
from tokensync.jobs.deps import Deps
from tokensync.jobs.options import JobOptions
from tokensync.jobs.results import JobResult, Reportable
from tokensync.jobs.run_record import new_run_id
from tokensync.jobs.stop import StopSignal
from tokensync.output.monitoring import Monitoring
from tokensync.settings import Settings
from tokensync.store import Store, open_store
from tokensync.store.spool import Spool, url_fingerprint

Notice = Callable[[str], None]
Opts = TypeVar("Opts", bound=JobOptions)
R = TypeVar("R", bound=JobResult)
T = TypeVar("T")
Job = Callable[[Deps, Opts], Awaitable[R]]
# The client-side bound on a statement waits a little past the server's statement timeout, so
# that a server that is alive answers with its own error first.
_CLIENT_MARGIN = 5.0


def _stderr(message: str) -> None:
    sys.stderr.write(f"tokensync: {message}\n")


@contextlib.contextmanager
def database(settings: Settings, *, migrate: bool = True) -> Iterator[Store]:
    """The store, its schema brought up to date (refusing one newer than this program)."""
    store = open_database(settings, migrate=migrate)
    try:
        yield store
    finally:
        store.close()


def open_database(settings: Settings, *, migrate: bool = True) -> Store:
    """Connect, and bring the schema up to date; the caller closes the store."""
    if settings.database_is_default:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = open_store(settings.database_url)
    try:
        if migrate:
            store.migrate(SystemClock().now())
    except BaseException:
        store.close()
        raise
    return store


def sqlite_key_file(settings: Settings) -> Path | None:
    """The key file kept beside a SQLite database, or None for PostgreSQL."""
    if not settings.database_url.startswith("sqlite:///"):
        return None
    from tokensync.store.sqlite import sqlite_path

    return sqlite_path(settings.database_url).with_suffix(".key")


def load_keyring(settings: Settings, notice: Notice = _stderr) -> Keyring:
    """The keyring from the environment, a key file, or (embedded database only) a new key file."""
    if settings.encryption_keys:
        return Keyring(settings.encryption_keys)
    if settings.encryption_keys_file is not None:
        keys_file = settings.encryption_keys_file
        return Keyring(read_keys_file(keys_file), source=str(keys_file))
    path = sqlite_key_file(settings)
    if path is None:
        raise ConfigError(
            "no encryption key: set TOKENSYNC_ENCRYPTION_KEYS or TOKENSYNC_ENCRYPTION_KEYS_FILE "
            "(make a key with `tokensync keys generate`)"
        )
    if not path.exists():
        create_keys_file(path)
        notice(
            f"created a new encryption key file {path} (mode 0600); back it up: without it the "
            "stored tokens cannot be read"
        )
    return Keyring(read_keys_file(path), source=str(path))


def open_spool(settings: Settings, store: Store) -> Spool:
    """The local spool of this database, named by the identity the database holds."""
    legacy = (url_fingerprint(settings.database_url),)
    return Spool(settings.spool_dir, store.database_id(), legacy_names=legacy)


@contextlib.asynccontextmanager
async def job_deps(
    settings: Settings,
    *,
    owner: str,
    concurrency: int,
    keyring: Keyring | None,
    progress: Callable[[Reportable], None],
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Deps]:
    """Everything a job run works with, closed when the block ends.

    `clock` and `transport` stand in for the real ones in tests (a fake clock, a mock transport).
    """
    store = open_database(settings)
    # Every statement of the run goes through the timed database thread, the run's own record
    # included: a database that stops answering costs database_timeout, never the whole run.
    db = AsyncStore(store, timeout=settings.database_timeout + _CLIENT_MARGIN)
    try:
        await db.call(store.set_statement_timeout, settings.database_timeout)
        spool = await db.call(open_spool, settings, store)
        client = http_client(settings.request_timeout, concurrency, transport)
        try:
            yield Deps(
                settings=settings,
                db=db,
                http=client,
                spool=spool,
                clock=clock or SystemClock(),
                owner=owner,
                keyring=keyring,
                progress=progress,
            )
        finally:
            await client.aclose()
    finally:
        db.close()
        # A connection whose thread is stuck in the driver is left to the process's exit.
        if db.hung is None:
            store.close()


def run_job(
    settings: Settings,
    job: Job[Opts, R],
    options: Opts,
    *,
    monitoring: Monitoring,
    progress: Callable[[Reportable], None],
) -> R:
    """Run one job as a command: its collaborators, the job, then the monitors told."""
    keyring = None if options.dry_run else load_keyring(settings)

    async def run() -> R:
        async with job_deps(
            settings,
            owner=new_run_id(options.command),
            concurrency=options.concurrency,
            keyring=keyring,
            progress=progress,
        ) as deps:
            if not options.dry_run:
                await monitoring.started(deps.http)
            result = await job(deps, options)
            await monitoring.finished(deps, result)
        return result

    result = asyncio.run(run())
    monitoring.summarise(result)
    return result


def run_events(
    settings: Settings,
    operation: Callable[[Deps, StopSignal], Awaitable[T]],
    *,
    max_duration: float | None,
    progress: Callable[[Reportable], None],
) -> T:
    """Run an events command (deliver, replay): the store and HTTP client, no keys (events hold
    no token), a stop on SIGTERM, SIGINT and `max_duration`."""

    async def run() -> T:
        async with job_deps(
            settings, owner=new_run_id("events"), concurrency=16, keyring=None, progress=progress
        ) as deps:
            stop = StopSignal(deps.clock, max_duration)
            with stop.on_signals():
                return await operation(deps, stop)

    return asyncio.run(run())

"""The one place where settings become collaborators: the store, the keyring, the HTTP client,
the spool and the clock, bundled for a job run (`job_deps`) or opened alone for the commands
that need only the store."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx

from tokensync import interrupts
from tokensync.crypto import Keyring, create_keys_file, read_keys_file
from tokensync.errors import ConfigError, NoDatabaseError, WrongKeyError
from tokensync.http.transport import http_client
from tokensync.jobs.options import JobOptions
from tokensync.jobs.results import JobResult
from tokensync.jobs.run_record import new_run_id
from tokensync.output.monitoring import Monitoring
from tokensync.output.stdout import Document, Printed
from tokensync.runtime import event_loop
from tokensync.runtime.async_store import AsyncStore
from tokensync.runtime.clock import Clock, SystemClock
from tokensync.runtime.deps import Deps
from tokensync.runtime.reportable import Reportable
from tokensync.runtime.stop import StopSignal
from tokensync.settings import Settings
from tokensync.store import Store, open_store
from tokensync.store.spool import Spool, url_fingerprint

Notice = Callable[[str], None]
T = TypeVar("T")
# The client-side bound on a statement waits a little past the server's statement timeout, so
# that a server that is alive answers with its own error first.
_CLIENT_MARGIN = 5.0
# Stored tokens a keyring is tried on before anything is written with it.
KEY_SAMPLE = 5


def _stderr(message: str) -> None:
    sys.stderr.write(f"tokensync: {message}\n")


@contextlib.contextmanager
def database(
    settings: Settings,
    *,
    migrate: bool = True,
    read_only: bool = False,
    create: bool = True,
    notice: Notice = _stderr,
) -> Iterator[Store]:
    """The store, its schema brought up to date (refusing one newer than this program); with
    `read_only`, an existing database of this program's schema, never created nor migrated;
    with `create` False, an existing tokensync database (an older schema is migrated)."""
    store = open_database(
        settings, migrate=migrate, read_only=read_only, create=create, notice=notice
    )
    try:
        yield store
    finally:
        store.close()


def open_database(
    settings: Settings,
    *,
    migrate: bool = True,
    read_only: bool = False,
    create: bool = True,
    notice: Notice = _stderr,
) -> Store:
    """Connect, and bring the schema up to date; the caller closes the store.

    Only the jobs, `tokens import` and `db migrate` create a database (and say so through
    `notice`). `read_only` is for the commands that only read (status, tokens list), `create`
    False for those that remove or read (erase, disconnect, prune, events, keys rotate): a
    database that does not exist, or holds no tokensync schema, is reported (exit 3), never
    created; `read_only` also wants the schema current already.
    """
    create = create and not read_only
    if settings.database_is_default and create:
        make_private_dir(settings.data_dir, "the data directory")
    store = open_store(settings.database_url, create=create)
    try:
        if not create:
            store.require_schema(describe_database(settings), older_ok=not read_only)
        if migrate and not read_only:
            new = store.schema_version() == 0
            if store.migrate(SystemClock().now()) and new:
                notice(f"created a new tokensync database: {describe_database(settings)}")
    except BaseException:
        store.close()
        raise
    return store


def make_private_dir(path: Path, what: str) -> None:
    """Create a directory only its owner may enter, or ConfigError naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"cannot create {what} {path}: {exc.strerror or type(exc).__name__} (set "
            "TOKENSYNC_DATA_DIR to a directory this user can write)"
        ) from None


def describe_database(settings: Settings) -> str:
    """How a message names the database: a SQLite file by its path, PostgreSQL by its name and
    host (never by its URL, which may hold a password)."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        from tokensync.store.sqlite import sqlite_path

        return f"the SQLite database {sqlite_path(url)}"
    from tokensync.store.pg_url import connection_params

    params = connection_params(url)
    name, host = params.get("dbname", ""), params.get("host", "")
    return (
        "the PostgreSQL database" + (f" {name}" if name else "") + (f" on {host}" if host else "")
    )


def sqlite_key_file(settings: Settings) -> Path | None:
    """The key file kept beside a SQLite database, or None for PostgreSQL."""
    if not settings.database_url.startswith("sqlite:///"):
        return None
    from tokensync.store.sqlite import sqlite_path

    return sqlite_path(settings.database_url).with_suffix(".key")


def configured_keyring(settings: Settings) -> Keyring | None:
    """The keyring the settings give (the environment, a key file) or the embedded database's
    key file holds; None when there is none yet. Never makes one (`tokensync doctor`)."""
    if settings.encryption_keys:
        return Keyring(settings.encryption_keys)
    if settings.encryption_keys_file is not None:
        keys_file = settings.encryption_keys_file
        return Keyring(read_keys_file(keys_file), source=str(keys_file))
    path = sqlite_key_file(settings)
    if path is not None and path.exists():
        return Keyring(read_keys_file(path), source=str(path))
    return None


def load_keyring(settings: Settings, notice: Notice = _stderr) -> Keyring:
    """The keyring from the environment, a key file, or (embedded database only) a new key file."""
    found = configured_keyring(settings)
    if found is not None:
        return found
    path = sqlite_key_file(settings)
    if path is None:
        raise ConfigError(
            "no encryption key: set TOKENSYNC_ENCRYPTION_KEYS or TOKENSYNC_ENCRYPTION_KEYS_FILE "
            "(make a key with `tokensync keys generate`)"
        )
    if not path.exists():
        _refuse_a_new_key_for_old_tokens(settings, path)
        try:
            create_keys_file(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the encryption key file {path}: "
                f"{exc.strerror or type(exc).__name__} (set TOKENSYNC_DATA_DIR to a directory "
                "this user can write, or give a key in TOKENSYNC_ENCRYPTION_KEYS)"
            ) from None
        notice(
            f"created a new encryption key file {path} (mode 0600); back it up: without it the "
            "stored tokens cannot be read"
        )
    return Keyring(read_keys_file(path), source=str(path))


def _refuse_a_new_key_for_old_tokens(settings: Settings, path: Path) -> None:
    """A key file that vanished while the database (or the spool) still holds tokens it
    encrypted: a new key would open none of them, so refuse rather than make one."""
    spooled = settings.spool_dir.is_dir() and any(settings.spool_dir.glob("*.json"))
    try:
        store = open_store(settings.database_url, create=False)
    except NoDatabaseError:
        stored = False
    else:
        try:  # whatever the schema's version: a job would migrate an older one
            stored = store.schema_version() > 0 and store.has_connections()
        finally:
            store.close()
    if stored or spooled:
        what = "the database holds tokens" if stored else "the spool holds tokens"
        raise ConfigError(
            "no encryption key is configured (TOKENSYNC_ENCRYPTION_KEYS, or "
            f"TOKENSYNC_ENCRYPTION_KEYS_FILE) and there is no key file at {path}, but {what} "
            "encrypted with some key: give that key in TOKENSYNC_ENCRYPTION_KEYS (or, if this "
            "database used the key file and it was lost, restore it from your backup); a new key "
            "would open none of them, so none was made"
        )


def check_keyring(store: Store, keyring: Keyring) -> None:
    """Refuse a keyring that opens none of the newest stored tokens (WrongKeyError, before
    anything is written): one indexed read of a few rows, whatever the table holds."""
    sample = store.newest_ciphertexts(KEY_SAMPLE)
    if sample and not any(keyring.opens(ciphertext) for ciphertext in sample):
        raise WrongKeyError(
            f"none of the {keyring.size} key(s) in {keyring.source} opens the tokens this "
            f"database holds (the {len(sample)} newest were tried): they were encrypted with "
            "another key; give that key (first in the list), and nothing was written"
        )


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
    create: bool = True,
) -> AsyncIterator[Deps]:
    """Everything a job run works with, closed when the block ends; a `keyring` that opens none
    of the stored tokens is refused first. `create` False: the database must exist already.

    `clock` and `transport` stand in for the real ones in tests (a fake clock, a mock transport).
    """
    store = open_database(settings, create=create)
    # The lease checks on a connection of their own, on PostgreSQL: each is made while its row
    # holds a request slot, and queued behind the saves on one connection it held the slot idle
    # (runtime/async_store.py). SQLite's statements cost no round trip and share one file lock.
    try:
        checks = None if store.engine == "sqlite" else open_store(settings.database_url)
    except BaseException:
        store.close()
        raise
    # Every statement of the run goes through the timed database threads, the run's own record
    # included: a database that stops answering costs database_timeout, never the whole run.
    db = AsyncStore(store, timeout=settings.database_timeout + _CLIENT_MARGIN, checks=checks)
    try:
        await db.call(store.set_statement_timeout, settings.database_timeout)
        if db.checks is not None:
            await db.checks.call(db.checks.store.set_statement_timeout, settings.database_timeout)
        if keyring is not None:
            await db.call(check_keyring, store, keyring)
        # Every other process sees this run as alive for as long as it is: a lease it holds on a
        # row whose refresh token is in flight is never taken over, whatever the clocks say.
        await db.call(store.hold_lease_owner, owner)
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
        for lane in (db, db.checks):
            if lane is not None and lane.hung is None:
                lane.store.close()


def run_scheduled_job(
    settings: Settings,
    options: JobOptions,
    *,
    monitoring: Monitoring,
    progress: Callable[[Reportable], None],
) -> Printed:
    """Run refresh-tokens or poll-platforms as a command: its collaborators, the job, the
    monitors told; its document (built once, for stdout and the ping) and exit code."""
    from tokensync.jobs.scheduled import run_scheduled
    from tokensync.output.job_document import job_document

    keyring = None if options.dry_run else load_keyring(settings)

    async def run() -> tuple[JobResult, Document]:
        async with job_deps(
            settings,
            owner=new_run_id(options.kind.command),
            concurrency=options.concurrency,
            keyring=keyring,
            progress=progress,
        ) as deps:
            if not options.dry_run:
                await monitoring.started(deps.http)
            result = await run_scheduled(deps, options)
            document = job_document(result)
            await monitoring.finished(deps, result, document)
        return result, document

    # asyncio puts the default signal handlers back when the loop closes: restore the command's.
    with interrupts.restored():
        result, document = event_loop.run(run())
    monitoring.summarise(result)
    return document, result.exit_code


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
            settings,
            owner=new_run_id("events"),
            concurrency=16,
            keyring=None,
            progress=progress,
            create=False,
        ) as deps:
            stop = StopSignal(deps.clock, max_duration)
            with stop.on_signals():
                return await operation(deps, stop)

    return event_loop.run(run())

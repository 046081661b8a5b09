"""One function per command: settings and options in, (document, exit code) out.

The CLI parses, calls one of these, prints the document and exits with the code. These never
print to stdout and never exit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from tokensync import bootstrap
from tokensync.errors import EXIT_FAILURES, EXIT_OK, UsageError
from tokensync.jobs.runtime import AsyncStore
from tokensync.progress import outcome_reporter
from tokensync.runner import Monitoring, run_job
from tokensync.settings import Settings
from tokensync.store import Filters

Result = tuple[dict[str, Any], int]


def check_filters(settings: Settings, platforms: Iterable[str], users: Iterable[str]) -> Filters:
    """Validate --platform names against the known platforms."""
    platforms = tuple(dict.fromkeys(platforms))
    unknown = [p for p in platforms if p not in settings.platforms]
    if unknown:
        raise UsageError(
            f"unknown platform(s): {', '.join(unknown)} (known: {', '.join(settings.platforms)})"
        )
    return Filters(platforms=platforms, users=tuple(dict.fromkeys(users)))


def refresh_tokens(
    settings: Settings,
    options: Any,
    monitoring: Monitoring,
    environ: Mapping[str, str],
    verbose: int = 0,
) -> Result:
    """`tokensync refresh-tokens`."""
    from tokensync.jobs.refresh import run_refresh
    from tokensync.report import refresh_document

    return _job(
        "refresh-tokens",
        run_refresh,
        refresh_document,
        settings,
        options,
        monitoring,
        environ,
        verbose,
    )


def poll_platforms(
    settings: Settings,
    options: Any,
    monitoring: Monitoring,
    environ: Mapping[str, str],
    verbose: int = 0,
) -> Result:
    """`tokensync poll-platforms`."""
    from tokensync.jobs.poll import run_poll
    from tokensync.report import poll_document

    return _job(
        "poll-platforms", run_poll, poll_document, settings, options, monitoring, environ, verbose
    )


def _job(
    command: str,
    run: Callable[..., Awaitable[Any]],
    render: Callable[[Any], dict[str, Any]],
    settings: Settings,
    options: Any,
    monitoring: Monitoring,
    environ: Mapping[str, str],
    verbose: int,
) -> Result:
    keyring = None if options.dry_run else bootstrap.load_keyring(settings)

    async def body(db: AsyncStore, client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
        spool = await db.call(bootstrap.open_spool, settings, db.store)
        with outcome_reporter(command.split("-")[0], verbose) as report:
            result = await run(
                db, client, keyring, settings, spool, options, run_id=run_id, on_outcome=report
            )
        return render(result)

    return run_job(
        settings,
        command,
        body,
        concurrency=options.concurrency,
        record=not options.dry_run,
        monitoring=monitoring,
        environ=environ,
    )


def import_tokens(settings: Settings, lines: Iterable[str]) -> Result:
    """`tokensync tokens import`: all or nothing."""
    from tokensync.importer import parse_lines, summary

    keyring = bootstrap.load_keyring(settings)
    now = datetime.now(UTC)
    rows = parse_lines(lines, settings.platforms, keyring, now)
    store = bootstrap.open_database(settings)
    try:
        return summary(store.upsert_connections(rows, now)), EXIT_OK
    finally:
        store.close()


def list_tokens(settings: Settings, filters: Filters) -> tuple[Iterable[dict[str, Any]], Any]:
    """`tokensync tokens list`: an iterator of connections, and the store to close after."""
    from tokensync.report import connection_document

    store = bootstrap.open_database(settings)
    return (connection_document(c) for c in store.iter_connections(filters)), store


def status(settings: Settings) -> Result:
    """`tokensync status`."""
    from tokensync.status import status_document

    store = bootstrap.open_database(settings)
    try:
        return status_document(store), EXIT_OK
    finally:
        store.close()


def migrate(settings: Settings) -> Result:
    """`tokensync db migrate`."""
    store = bootstrap.open_database(settings, migrate=False)
    try:
        applied = store.migrate(datetime.now(UTC))
        return {
            "success": True,
            "engine": store.engine,
            "applied": applied,
            "schemaVersion": store.schema_version(),
        }, EXIT_OK
    finally:
        store.close()


def rotate_keys(settings: Settings) -> Result:
    """`tokensync keys rotate`."""
    from tokensync.rotation import rotate_keys as rotate

    keyring = bootstrap.load_keyring(settings)
    store = bootstrap.open_database(settings)
    try:
        result = rotate(store, keyring, batch_size=settings.batch_size)
    finally:
        store.close()
    document = result.document(keyring.size)
    return document, EXIT_OK if document["success"] else EXIT_FAILURES

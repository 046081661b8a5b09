"""Running a job as a command: open the store, record the run, run it, report it.

What a job run means to the outside (the runs table, exit code, metrics file, pings) is decided
here, once for both jobs; the jobs themselves only do their work.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tokensync import bootstrap
from tokensync.errors import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_STORAGE,
    DatabaseTimeoutError,
    SchemaTooNewError,
    StorageError,
    TokensyncError,
)
from tokensync.jobs.runtime import AsyncStore, new_run_id, utc_now
from tokensync.settings import Settings
from tokensync.store import Store

log = logging.getLogger("tokensync")
# The client-side bound waits a little past the server's statement timeout, so that a server
# that is alive answers with its own error first.
_CLIENT_MARGIN = 5.0
_STORAGE_CODES = {StorageError.code, DatabaseTimeoutError.code, SchemaTooNewError.code}

SUMMARY_KEYS = (
    "tokensChecked",
    "tokensRefreshed",
    "tokensFailed",
    "needsReauth",
    "userCount",
    "platformCount",
    "pollsSuccessful",
    "pollsFailed",
    "itemsFetched",
    "itemsStored",
    "durationMs",
    "stopped",
)


@dataclass(frozen=True)
class Monitoring:
    """Where a run reports besides stdout."""

    metrics_file: Path | None = None
    ping_url: str | None = None


JobBody = Callable[[AsyncStore, httpx.AsyncClient, str], Awaitable[dict[str, Any]]]


def run_job(
    settings: Settings,
    command: str,
    body: JobBody,
    *,
    concurrency: int,
    record: bool,
    monitoring: Monitoring,
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], int]:
    """Run one job end to end; return its document and exit code."""
    store = bootstrap.open_database(settings)
    hung = True
    try:
        run_id = new_run_id(command.split("-")[0])
        document, code, hung = asyncio.run(
            _run(store, settings, command, body, run_id, concurrency, monitoring, record)
        )
        _write_step_summary(document, environ)
        return document, code
    finally:
        # A connection whose thread is stuck in the driver is left to the process's exit.
        if not hung:
            store.close()


def exit_code(document: Mapping[str, Any]) -> int:
    """0 when the run succeeded, 3 when the database failed it, else 1."""
    if document.get("success"):
        return EXIT_OK
    error = document.get("error") or {}
    if error.get("code") in _STORAGE_CODES:
        return EXIT_STORAGE
    return EXIT_FAILURES


async def _run(
    store: Store,
    settings: Settings,
    command: str,
    body: JobBody,
    run_id: str,
    concurrency: int,
    monitoring: Monitoring,
    record: bool,
) -> tuple[dict[str, Any], int, bool]:
    # Every statement of the run goes through the timed database thread, the run's own record
    # included: a database that stops answering costs database_timeout, never the whole run.
    db = AsyncStore(store, timeout=settings.database_timeout + _CLIENT_MARGIN)
    await db.call(store.set_statement_timeout, settings.database_timeout)
    client = bootstrap.http_client(settings, concurrency)
    try:
        if record:
            await db.call(store.start_run, run_id, command, utc_now())
        if monitoring.ping_url and record:
            await _ping(client, monitoring.ping_url, "start", None)
        document = await body(db, client, run_id)
        code = exit_code(document)
        if record:
            await _finish(db, run_id, document, code)
        await _write_metrics(db, monitoring, document)
        if monitoring.ping_url and record:
            import json

            event = "success" if document.get("success") else "fail"
            await _ping(client, monitoring.ping_url, event, json.dumps(document))
        return document, code, db.hung is not None
    finally:
        await client.aclose()
        db.close()


async def _ping(client: httpx.AsyncClient, url: str, event: str, body: str | None) -> None:
    from tokensync.ping import ping

    await ping(client, url, event, body)  # type: ignore[arg-type]


async def _finish(db: AsyncStore, run_id: str, document: Mapping[str, Any], code: int) -> None:
    summary = {k: document[k] for k in SUMMARY_KEYS if k in document}
    if "error" in document:
        summary["error"] = document["error"]
    try:
        await db.call(
            db.store.finish_run,
            run_id,
            finished_at=utc_now(),
            success=bool(document.get("success")),
            exit_code=code,
            summary=summary,
        )
    except TokensyncError as exc:
        log.warning("could not record the run: %s", exc.message)


async def _write_metrics(
    db: AsyncStore, monitoring: Monitoring, document: Mapping[str, Any]
) -> None:
    if monitoring.metrics_file is None:
        return
    from tokensync.metrics import write_metrics

    reauth: dict[str, int] | None
    try:
        rows = await db.call(db.store.status_counts)
        reauth = {r["platform"]: int(r["n"]) for r in rows if r["status"] == "needs_reauth"}
    except TokensyncError:
        reauth = None  # the database is away: keep the last known counts, not zeros
    try:
        write_metrics(monitoring.metrics_file, document, reauth, utc_now())
    except OSError as exc:
        sys.stderr.write(f"tokensync: cannot write the metrics file: {exc.strerror}\n")


def _write_step_summary(document: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    if not environ.get("GITHUB_STEP_SUMMARY"):
        return
    from tokensync.step_summary import write_step_summary

    try:
        write_step_summary(document, environ)
    except OSError as exc:
        sys.stderr.write(f"tokensync: cannot write the step summary: {exc.strerror}\n")

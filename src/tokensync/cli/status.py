"""`status`: the database's connections, events and runs, as JSON or a table."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tokensync.cli.app import app
from tokensync.cli.command import guarded
from tokensync.cli.options import EXAMPLES, ReportFormat
from tokensync.output.ending import exit_with, stdout_failed
from tokensync.output.stdout import printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.settings import Settings


@app.command("status", epilog=EXAMPLES["status"])
def status(
    ctx: typer.Context,
    output: Annotated[
        ReportFormat, typer.Option("--format", help="json (the default) or table, for a person.")
    ] = "json",
) -> None:
    """Counts by platform and status, soonest expiry, re-authorisation list, last runs."""
    from tokensync import bootstrap
    from tokensync.connections.status import StatusReport, read_status
    from tokensync.output.documents import status_document

    def read(settings: Settings) -> StatusReport:
        from tokensync.runtime.clock import SystemClock

        with bootstrap.database(settings, read_only=True) as store:
            clock = SystemClock()
            return read_status(store, settings, clock.now(), clock=clock.now)

    report = guarded(ctx, read)
    if output == "json":
        exit_with(*printed(status_document(report), report))
    from tokensync.output.table import render_status

    try:
        render_status(report, sys.stdout)
    except OSError as exc:
        raise typer.Exit(stdout_failed(exc, report.exit_code)) from None
    raise typer.Exit(report.exit_code)

"""`status --format table` and `tokens list --format table`: rendered for a person, with rich."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tokensync.connections.status import StatusReport
from tokensync.store.models import STATUSES, Erring
from tokensync.times import iso


def render_status(report: StatusReport, stream: TextIO) -> None:
    """Print the tables of a status report."""
    console = Console(file=stream, width=120)
    console.print(f"[bold]tokensync[/bold] on {report.engine}, schema {report.schema_version}")
    for problem in report.problems:
        console.print(f"[bold red]problem[/bold red] {problem.code}: {escape(problem.message)}")

    counts = _table("Connections by platform and status", "platform", *STATUSES, "total")
    for platform, by_status in sorted(report.by_platform().items()):
        row = [str(by_status.get(s, 0)) for s in STATUSES]
        counts.add_row(escape(platform), *row, str(sum(by_status.values())))
    totals = report.by_status()
    counts.add_row(
        "[bold]all[/bold]", *(str(totals.get(s, 0)) for s in STATUSES), str(sum(totals.values()))
    )
    console.print(counts)

    expiring = _table("Soonest expiries", "connection", "platform", "user", "expires at")
    for e in report.soonest:
        expiring.add_row(
            str(e.connection_id), escape(e.platform), escape(e.user_id), iso(e.expires_at) or "-"
        )
    console.print(expiring)

    reauth = _table(
        f"Needing re-authorisation ({totals.get('needs_reauth', 0)})",
        "connection",
        "platform",
        "user",
        "since",
        "error",
    )
    _erring_rows(reauth, report.needs_reauth, lambda r: [iso(r.updated_at) or "-"])
    console.print(reauth)

    failing = _table(
        f"Failing, retried after a back-off ({report.failing_count})",
        "connection",
        "platform",
        "user",
        "failures",
        "next attempt",
        "error",
    )
    _erring_rows(
        failing, report.failing, lambda r: [str(r.failure_count), iso(r.next_attempt_at) or "-"]
    )
    console.print(failing)

    days = report.expiring_within / 86400
    grants = _table(
        f"Grants ending within {days:g} days ({report.grants_ending_count})",
        "connection",
        "platform",
        "user",
        "ends at",
    )
    for e in report.grants_ending:
        grants.add_row(
            str(e.connection_id), escape(e.platform), escape(e.user_id), iso(e.expires_at) or "-"
        )
    console.print(grants)

    endpoint = report.endpoint
    if not report.webhook_configured:
        webhook = "no webhook_url configured"
    elif endpoint is None:
        webhook = "nothing delivered yet"
    elif endpoint.disabled_at is not None:
        webhook = f"{endpoint.host}: DISABLED since {iso(endpoint.disabled_at)} (410 Gone)"
    else:
        webhook = f"{endpoint.host}: last success {iso(endpoint.last_success_at) or '-'}"
        if endpoint.last_error:
            webhook += f", last error {endpoint.last_error} at {iso(endpoint.last_failure_at)}"
    console.print(
        f"Events: {report.events.pending} pending, {report.events.dead} dead; "
        f"webhook: {escape(webhook)}"
    )

    runs = _table("Last runs", "job", "started", "finished", "success", "exit", "summary")
    for run in sorted(report.last_runs, key=lambda r: r.command):
        summary = ", ".join(f"{k}={v}" for k, v in (run.summary or {}).items() if k != "error")
        runs.add_row(
            run.command,
            iso(run.started_at) or "-",
            iso(run.finished_at) or "(running)",
            "-" if run.success is None else "yes" if run.success else "no",
            "-" if run.exit_code is None else str(run.exit_code),
            summary,
        )
    console.print(runs)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in (*STATUSES, "total") else "left")
    return table


def _erring_rows(
    table: Table, rows: Sequence[Erring], middle: Callable[[Erring], list[str]]
) -> None:
    """A row per connection: its ids, the columns `middle` gives, then its last error."""
    for r in rows:
        error = escape(f"{r.error_code or ''}: {r.error_message or ''}")
        table.add_row(
            str(r.connection_id), escape(r.platform), escape(r.user_id), *middle(r), error
        )


# The columns of `tokens list --format table`: the listing's fields a person reads first.
LIST_COLUMNS = ("id", "userId", "platform", "status", "expiresAt", "failureCount", "lastError")


def connections_table(documents: Sequence[Mapping[str, object]]) -> str:
    """A page of `tokens list` documents as a table's text."""
    table = Table(*LIST_COLUMNS)
    for doc in documents:
        error = doc.get("lastError")
        code = error.get("code") if isinstance(error, Mapping) else None
        cells = [doc.get(column) for column in LIST_COLUMNS[:-1]] + [code]
        table.add_row(*(escape("-" if cell is None else str(cell)) for cell in cells))
    text = io.StringIO()
    Console(file=text, width=120).print(table)
    return text.getvalue()

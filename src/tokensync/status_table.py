"""`status --format table`: the status document rendered for a person, with rich."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tokensync.store.models import STATUSES


def render_status(document: Mapping[str, Any], stream: TextIO) -> None:
    """Print the tables of a status document."""
    console = Console(file=stream, width=120)
    db = document["database"]
    console.print(f"[bold]tokensync[/bold] on {db['engine']}, schema {db['schemaVersion']}")

    counts = Table(title="Connections by platform and status")
    counts.add_column("platform")
    for status in (*STATUSES, "total"):
        counts.add_column(status, justify="right")
    for platform, by_status in sorted(document["connections"]["byPlatform"].items()):
        row = [str(by_status.get(s, 0)) for s in STATUSES]
        counts.add_row(escape(platform), *row, str(sum(by_status.values())))
    totals = document["connections"]["byStatus"]
    counts.add_row(
        "[bold]all[/bold]",
        *(str(totals.get(s, 0)) for s in STATUSES),
        str(document["connections"]["total"]),
    )
    console.print(counts)

    expiring = Table(title="Soonest expiries")
    for column in ("connection", "platform", "user", "expires at"):
        expiring.add_column(column)
    for row in document["soonestExpiry"]:
        expiring.add_row(
            str(row["connectionId"]),
            escape(row["platform"]),
            escape(row["userId"]),
            row["expiresAt"] or "-",
        )
    console.print(expiring)

    reauth = Table(title=f"Needing re-authorisation ({document['needsReauth']['count']})")
    for column in ("connection", "platform", "user", "since", "error"):
        reauth.add_column(column)
    for row in document["needsReauth"]["connections"]:
        error = row["error"] or {}
        reauth.add_row(
            str(row["connectionId"]),
            escape(row["platform"]),
            escape(row["userId"]),
            row["since"] or "-",
            escape(f"{error.get('code') or ''}: {error.get('message') or ''}"),
        )
    console.print(reauth)

    failing = Table(title=f"Failing, retried after a back-off ({document['failing']['count']})")
    for column in ("connection", "platform", "user", "failures", "next attempt", "error"):
        failing.add_column(column)
    for row in document["failing"]["connections"]:
        error = row["error"] or {}
        failing.add_row(
            str(row["connectionId"]),
            escape(row["platform"]),
            escape(row["userId"]),
            str(row["failures"]),
            row["nextAttemptAt"] or "-",
            escape(f"{error.get('code') or ''}: {error.get('message') or ''}"),
        )
    console.print(failing)

    runs = Table(title="Last runs")
    for column in ("job", "started", "finished", "success", "exit", "summary"):
        runs.add_column(column)
    for job, run in sorted(document["lastRuns"].items()):
        summary = ", ".join(f"{k}={v}" for k, v in (run["summary"] or {}).items() if k != "error")
        runs.add_row(
            job,
            run["startedAt"] or "-",
            run["finishedAt"] or "(running)",
            {True: "yes", False: "no"}.get(run["success"], "-"),
            "-" if run["exitCode"] is None else str(run["exitCode"]),
            summary,
        )
    console.print(runs)

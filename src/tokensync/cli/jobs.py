"""`refresh-tokens` and `poll-platforms`: their options, made into the job's options in one place
(job_options), and a run with its monitors and progress."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from tokensync.cli.app import app
from tokensync.cli.command import (
    MaxDurationOpt,
    PlatformOpt,
    UserOpt,
    check_filters,
    duration,
    finish,
)
from tokensync.cli.options import EXAMPLES, FailOnChoice, Results
from tokensync.errors import UsageError
from tokensync.output.stdout import Printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.jobs.options import JobOptions
    from tokensync.runtime.job_kinds import JobKind
    from tokensync.settings import Settings


DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Claim nothing, call no provider: report what is due.")
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", min=1, max=1024, help="Requests in flight.", show_default=False),
]
ResultsOpt = Annotated[
    Results, typer.Option("--results", help="What the results array holds: all, failures or none.")
]
MetricsOpt = Annotated[
    Path | None,
    typer.Option("--metrics-file", help="Write Prometheus textfile metrics here (atomically)."),
]
PingOpt = Annotated[
    str | None, typer.Option("--ping-url", help="healthchecks.io-style URL to ping.")
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Act on the selected connections now, whatever window, back-off or interval.",
    ),
]
FailOnOpt = Annotated[
    FailOnChoice,
    typer.Option(
        "--fail-on",
        help="What exits 1: any failure, or only those an operator can act on (operator: a "
        "user's dead grant is reported and evented, and the run succeeds).",
    ),
]


@dataclass(frozen=True, kw_only=True)
class _Typed:
    """The options of a job command exactly as typed: None (or empty) where not given."""

    platforms: list[str]
    users: list[str]
    window: str | None = None  # refresh-tokens only
    dry_run: bool
    concurrency: int | None
    max_duration: str | None
    results: Results
    metrics_file: Path | None
    ping_url: str | None
    force: bool
    fail_on: FailOnChoice


def job_options(kind: JobKind, typed: _Typed, settings: Settings) -> JobOptions:
    """The one place where what was typed and the settings become a job's options, checked: an
    option not given takes its setting (every default lives in Settings)."""
    from tokensync.jobs.options import PollOptions, RefreshOptions
    from tokensync.runtime.job_kinds import REFRESH

    if typed.ping_url is not None:
        _check_ping_url(typed.ping_url)
    filters = check_filters(settings, typed.platforms, typed.users)
    max_duration = duration(typed.max_duration, "--max-duration")
    if kind is REFRESH:
        return RefreshOptions(
            filters=filters,
            dry_run=typed.dry_run,
            concurrency=typed.concurrency or settings.concurrency,
            max_duration=max_duration,
            keep=typed.results,
            force=typed.force,
            fail_on=typed.fail_on,
            window=duration(typed.window, "--window") or settings.refresh_window,
        )
    return PollOptions(
        filters=filters,
        dry_run=typed.dry_run,
        concurrency=typed.concurrency or settings.poll_concurrency,
        max_duration=max_duration,
        keep=typed.results,
        force=typed.force,
        fail_on=typed.fail_on,
    )


def _check_ping_url(url: str) -> None:
    """An http(s) URL with a host; never echoed, since its path is the check's secret."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise UsageError("--ping-url must be an http:// or https:// URL (it is not shown here)")


@app.command("refresh-tokens", epilog=EXAMPLES["refresh-tokens"])
def refresh_tokens(
    ctx: typer.Context,
    platform: PlatformOpt = None,
    user: UserOpt = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Refresh tokens that expire within this [default: the refresh_window setting].",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    concurrency: ConcurrencyOpt = None,
    max_duration: MaxDurationOpt = None,
    results: ResultsOpt = "all",
    metrics_file: MetricsOpt = None,
    ping_url: PingOpt = None,
    force: ForceOpt = False,
    fail_on: FailOnOpt = "any",
) -> None:
    """Refresh every active token that expires within the window."""
    typed = _Typed(
        platforms=platform or [],
        users=user or [],
        window=window,
        dry_run=dry_run,
        concurrency=concurrency,
        max_duration=max_duration,
        results=results,
        metrics_file=metrics_file,
        ping_url=ping_url,
        force=force,
        fail_on=fail_on,
    )
    from tokensync.runtime.job_kinds import REFRESH

    finish(ctx, lambda settings: _run(ctx, REFRESH, typed, settings))


@app.command("poll-platforms", epilog=EXAMPLES["poll-platforms"])
def poll_platforms(
    ctx: typer.Context,
    platform: PlatformOpt = None,
    user: UserOpt = None,
    dry_run: DryRunOpt = False,
    concurrency: ConcurrencyOpt = None,
    max_duration: MaxDurationOpt = None,
    results: ResultsOpt = "all",
    metrics_file: MetricsOpt = None,
    ping_url: PingOpt = None,
    force: ForceOpt = False,
    fail_on: FailOnOpt = "any",
) -> None:
    """Poll each active connection's platform endpoints and store what is new."""
    typed = _Typed(
        platforms=platform or [],
        users=user or [],
        dry_run=dry_run,
        concurrency=concurrency,
        max_duration=max_duration,
        results=results,
        metrics_file=metrics_file,
        ping_url=ping_url,
        force=force,
        fail_on=fail_on,
    )
    from tokensync.runtime.job_kinds import POLL

    finish(ctx, lambda settings: _run(ctx, POLL, typed, settings))


def _run(ctx: typer.Context, kind: JobKind, typed: _Typed, settings: Settings) -> Printed:
    """Run a job with its monitors and progress: its document (built once, also for the ping)
    and exit code."""
    from tokensync import bootstrap
    from tokensync.output.monitoring import Monitoring
    from tokensync.output.progress import outcome_reporter

    options = job_options(kind, typed, settings)
    monitoring = Monitoring.of(typed.metrics_file, typed.ping_url, os.environ)
    with outcome_reporter(kind.noun, ctx.obj.verbose) as progress:
        return bootstrap.run_scheduled_job(
            settings, options, monitoring=monitoring, progress=progress
        )

"""The typer app: options in, one command call, one JSON document out, the documented exit code."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, NoReturn, TypedDict, TypeVar
from urllib.parse import urlsplit

import typer

from tokensync import __version__, interrupts
from tokensync.cli.options import (
    EXAMPLES,
    FailOnChoice,
    ListFormat,
    ReportFormat,
    Results,
    group,
    help_when_bare,
    hoist_global_options,
)
from tokensync.errors import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    Interrupted,
    TokensyncError,
    UsageError,
    exit_code_for,
)
from tokensync.output import ending
from tokensync.output.ending import cut_short, exit_with, stdout_failed, warn
from tokensync.output.stdout import (
    Document,
    error_document,
    failure_document,
    interrupted_document,
)
from tokensync.redaction import redact
from tokensync.settings import load_settings

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.bootstrap import Job, Opts, R
    from tokensync.client import TokenClient
    from tokensync.jobs.options import FailOn, Keep
    from tokensync.runtime.reportable import Reportable
    from tokensync.settings import Settings
    from tokensync.store import Connection, Store
    from tokensync.store.models import Filters

T = TypeVar("T")

app = typer.Typer(
    name="tokensync",
    help="Keep your users' OAuth tokens alive and poll their platform data, on a schedule.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
tokens_app = group("Connections: import, list, get a fresh token, disconnect.")
keys_app = group("Encryption keys.")
db_app = group("The database schema.")
users_app = group("Users: erase one, everywhere.")
data_app = group("The polled data.")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")


@dataclass(frozen=True)
class Globals:
    """The global options."""

    database_url: str | None
    config: Path | None
    verbose: int


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"tokensync {__version__}\n")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _global(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="postgresql://... or sqlite:///file.db [env: TOKENSYNC_DATABASE_URL; then "
            "database_url in the config file; then DATABASE_URL]",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file of settings [env: TOKENSYNC_CONFIG]"),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="Log each item on stderr.")
    ] = 0,
    quiet: Annotated[
        bool,
        typer.Option(
            "-q", "--quiet", help="Say a failure by the document and exit code only, not on stderr."
        ),
    ] = False,
) -> None:
    """The global options (cli_options.py moves those typed after the command before it)."""
    ending.set_quiet(quiet)
    ctx.obj = Globals(database_url=database_url, config=config, verbose=verbose)
    help_when_bare(ctx)


def _settings(ctx: typer.Context) -> Settings:
    g: Globals = ctx.obj
    return load_settings(database_url=g.database_url, config_path=g.config)


def _guarded(ctx: typer.Context, work: Callable[[Settings], T]) -> T:
    """work(settings); a failure ends the command with its error document and exit code."""
    command = ctx.command.name
    url: str | None = None
    try:
        settings = _settings(ctx)
        url = settings.database_url
        return work(settings)
    except TokensyncError as exc:
        document, code = error_document(exc, command), exit_code_for(exc)
    except Interrupted as exc:
        document, code = interrupted_document(exc, command), exc.exit_code
    except Exception as exc:  # a bug: say so without echoing a message that might hold a secret
        if ctx.obj.verbose:
            warn(redact(traceback.format_exc(), url).rstrip())
        message = f"unexpected {type(exc).__name__}; run with -v for the traceback"
        document, code = failure_document("internal_error", message, command), EXIT_FAILURES
    error = document["error"]
    if url and isinstance(error, dict):  # every message was built without one; make sure
        error["message"] = redact(str(error["message"]), url)
    exit_with(document, code)


def _finish(ctx: typer.Context, work: Callable[[Settings], tuple[Document, int]]) -> NoReturn:
    """Run a command; print its document (or its error) and exit with its code."""
    document, code = _guarded(ctx, work)
    exit_with(document, code)


# -- the jobs -----------------------------------------------------------------------------------

PlatformOpt = Annotated[
    list[str] | None,
    typer.Option("--platform", help="Only this platform (repeatable).", show_default=False),
]
UserOpt = Annotated[
    list[str] | None,
    typer.Option("--user", help="Only this user id (repeatable).", show_default=False),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Claim nothing, call no provider: report what is due.")
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", min=1, max=1024, help="Requests in flight.", show_default=False),
]
MaxDurationOpt = Annotated[
    str | None,
    typer.Option("--max-duration", help="Stop claiming work after this long (90s, 4m, 1h)."),
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


class _JobFields(TypedDict):
    """The fields of JobOptions, as both job commands fill them in."""

    filters: Filters
    dry_run: bool
    concurrency: int
    max_duration: float | None
    keep: Keep
    force: bool
    fail_on: FailOn


@dataclass(frozen=True)
class _JobArgs:
    """The options both job commands take, as typed on the command line."""

    platforms: list[str]
    users: list[str]
    dry_run: bool
    concurrency: int | None
    max_duration: str | None
    results: Results
    metrics_file: Path | None
    ping_url: str | None
    force: bool
    fail_on: FailOnChoice

    def common(self, settings: Settings, default_concurrency: int) -> _JobFields:
        """The JobOptions fields, checked."""
        if self.ping_url is not None:
            _check_ping_url(self.ping_url)
        return {
            "filters": check_filters(settings, self.platforms, self.users),
            "dry_run": self.dry_run,
            "concurrency": self.concurrency or default_concurrency,
            "max_duration": _duration(self.max_duration, "--max-duration"),
            "keep": self.results,
            "force": self.force,
            "fail_on": self.fail_on,
        }


def _duration(value: str | None, option: str, *, allow_zero: bool = False) -> float | None:
    from tokensync.times import parse_duration

    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise UsageError(f"{option} must be longer than zero")
    return seconds


def _check_ping_url(url: str) -> None:
    """An http(s) URL with a host; never echoed, since its path is the check's secret."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise UsageError("--ping-url must be an http:// or https:// URL (it is not shown here)")


def check_filters(settings: Settings, platforms: Iterable[str], users: Iterable[str]) -> Filters:
    """--platform and --user as filters; every platform named must be a known one."""
    from tokensync.store.models import Filters

    platforms = tuple(dict.fromkeys(platforms))
    unknown = [p for p in platforms if p not in settings.platforms]
    if unknown:
        raise UsageError(
            f"unknown platform(s): {', '.join(unknown)} (known: {', '.join(settings.platforms)})"
        )
    return Filters(platforms=platforms, users=tuple(dict.fromkeys(users)))


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
    from tokensync.jobs.options import RefreshOptions
    from tokensync.jobs.refresh_tokens import run_refresh

    args = _JobArgs(
        platform or [],
        user or [],
        dry_run,
        concurrency,
        max_duration,
        results,
        metrics_file,
        ping_url,
        force,
        fail_on,
    )

    def work(settings: Settings) -> tuple[Document, int]:
        options = RefreshOptions(
            **args.common(settings, settings.concurrency),
            window=_duration(window, "--window") or settings.refresh_window,
        )
        return _run_job(ctx, settings, run_refresh, options, args)

    _finish(ctx, work)


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
    from tokensync.jobs.options import PollOptions
    from tokensync.jobs.poll_platforms import run_poll

    args = _JobArgs(
        platform or [],
        user or [],
        dry_run,
        concurrency,
        max_duration,
        results,
        metrics_file,
        ping_url,
        force,
        fail_on,
    )

    def work(settings: Settings) -> tuple[Document, int]:
        options = PollOptions(**args.common(settings, settings.poll_concurrency))
        return _run_job(ctx, settings, run_poll, options, args)

    _finish(ctx, work)


def _run_job(
    ctx: typer.Context, settings: Settings, job: Job[Opts, R], options: Opts, args: _JobArgs
) -> tuple[Document, int]:
    """Run a job with its monitors and progress; its document and exit code."""
    from tokensync import bootstrap
    from tokensync.output.documents import job_document
    from tokensync.output.monitoring import Monitoring
    from tokensync.output.progress import outcome_reporter

    monitoring = Monitoring.of(args.metrics_file, args.ping_url, os.environ)
    with outcome_reporter(options.kind.noun, ctx.obj.verbose) as progress:
        result = bootstrap.run_job(settings, job, options, monitoring=monitoring, progress=progress)
    return job_document(result), result.exit_code


# -- the store ----------------------------------------------------------------------------------


@tokens_app.command("import", epilog=EXAMPLES["tokens import"])
def tokens_import(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="JSON Lines file; stdin when absent or '-'.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check every line and count the connections; write nothing, create nothing.",
        ),
    ] = False,
) -> None:
    """Upsert connections from JSON Lines, encrypting the tokens; all or nothing."""

    def work(settings: Settings) -> tuple[Document, int]:
        if file is None or str(file) == "-":
            if sys.stdin.isatty():
                warn("reading JSON Lines from stdin (the terminal); end with Ctrl-D")
            return _import(settings, _stdin_bytes(), dry_run=dry_run)
        try:
            handle = file.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
        with handle:
            return _import(settings, handle, dry_run=dry_run)

    _finish(ctx, work)


def _stdin_bytes() -> BinaryIO:
    """stdin as bytes: each line is decoded (and refused if it is not UTF-8) by the import."""
    return sys.stdin.buffer


def _import(settings: Settings, stream: BinaryIO, *, dry_run: bool) -> tuple[Document, int]:
    from tokensync import bootstrap
    from tokensync.connections.token_import import check_import, import_tokens
    from tokensync.output.documents import import_document
    from tokensync.output.progress import counter
    from tokensync.runtime.clock import SystemClock

    now = SystemClock().now()
    with counter("tokens import") as progress:
        if dry_run:
            found = check_import(stream, settings.platforms, now, progress)
            return {"success": True, "dryRun": True, "connections": found}, EXIT_OK
        keyring = bootstrap.load_keyring(settings)
        with bootstrap.database(settings) as store:
            bootstrap.check_keyring(store, keyring)
            counts = import_tokens(store, stream, settings.platforms, keyring, now, progress)
    return import_document(counts), EXIT_OK


StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        help="Only this status (repeatable): active, needs_reauth, disabled.",
        show_default=False,
    ),
]


@tokens_app.command("get", epilog=EXAMPLES["tokens get"])
def tokens_get(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user id.", show_default=False)],
    platform: Annotated[str, typer.Option("--platform", help="The platform.", show_default=False)],
    min_ttl: Annotated[
        str, typer.Option("--min-ttl", help="Refresh first if it expires within this.")
    ] = "5m",
    force_refresh: Annotated[
        bool, typer.Option("--force-refresh", help="Refresh it whatever its expiry.")
    ] = False,
) -> None:
    """A fresh access token (refreshed first when due): the one command that prints a secret."""
    from tokensync.output.documents import connection_error_document, token_document

    def work(settings: Settings) -> tuple[Document, int]:
        check_filters(settings, [platform], [user])
        ttl = _duration(min_ttl, "--min-ttl", allow_zero=True) or 0.0
        try:
            with (
                interrupts.restored(),
                _client(settings, _logger(ctx, "get")) as client,
            ):
                token = client.get_token(user, platform, min_ttl=ttl, force_refresh=force_refresh)
        except TokensyncError as exc:
            return connection_error_document(user, platform, exc), exit_code_for(exc)
        return token_document(token), EXIT_OK

    _finish(ctx, work)


@tokens_app.command("disconnect", epilog=EXAMPLES["tokens disconnect"])
def tokens_disconnect(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user id.", show_default=False)],
    platform: Annotated[str, typer.Option("--platform", help="The platform.", show_default=False)],
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="Keep the polled items; delete the rest.")
    ] = False,
    no_revoke: Annotated[
        bool, typer.Option("--no-revoke", help="Delete locally only; the grant stays valid.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be revoked and deleted; do nothing.")
    ] = False,
) -> None:
    """Revoke the grant at the provider, then delete the tokens, sync state and items."""
    from tokensync.output.documents import connection_error_document, disconnect_document

    def work(settings: Settings) -> tuple[Document, int]:
        check_filters(settings, [platform], [user])
        progress = _logger(ctx, "disconnect")
        try:
            with (
                interrupts.restored(),
                _client(settings, progress) as client,
            ):
                done = client.disconnect(
                    user, platform, revoke=not no_revoke, keep_data=keep_data, dry_run=dry_run
                )
        except TokensyncError as exc:
            return connection_error_document(user, platform, exc), exit_code_for(exc)
        return disconnect_document(done), EXIT_OK

    _finish(ctx, work)


@users_app.command("erase", epilog=EXAMPLES["users erase"])
def users_erase(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.", show_default=False)],
    no_revoke: Annotated[
        bool, typer.Option("--no-revoke", help="Delete locally only; the grants stay valid.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be revoked and removed; do nothing.")
    ] = False,
) -> None:
    """Disconnect every connection of a user, then remove every row naming them; a receipt."""
    from tokensync.output.documents import erase_document

    def work(settings: Settings) -> tuple[Document, int]:
        progress = _logger(ctx, "erase")
        with (
            interrupts.restored(),
            _client(settings, progress) as client,
        ):
            receipt = client.erase_user(user, revoke=not no_revoke, dry_run=dry_run)
        return erase_document(receipt), EXIT_OK if receipt.success else EXIT_FAILURES

    _finish(ctx, work)


def _client(settings: Settings, progress: Callable[[Reportable], None]) -> TokenClient:
    """The client of a command: it stops on signals, and never creates a database."""
    from tokensync.client import TokenClient

    return TokenClient(settings, progress=progress, handle_signals=True, create_database=False)


def _logger(ctx: typer.Context, event: str) -> Callable[[Reportable], None]:
    """With -v, a log line per item on stderr (its log_fields: ids and outcome, never a secret)."""
    from tokensync.output.progress import log_line

    def log(item: Reportable) -> None:
        if ctx.obj.verbose:
            log_line(event, **item.log_fields())

    return log


@tokens_app.command("list", epilog=EXAMPLES["tokens list"])
def tokens_list(
    ctx: typer.Context,
    platform: PlatformOpt = None,
    user: UserOpt = None,
    status: StatusOpt = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="At most this many.", show_default=False),
    ] = None,
    after_id: Annotated[
        int,
        typer.Option("--after-id", min=0, help="Only ids above this (the next page's start)."),
    ] = 0,
    output: Annotated[
        ListFormat,
        typer.Option(
            "--format", help="json (one array), jsonl (a line each) or table (for a person)."
        ),
    ] = "json",
) -> None:
    """Connections by id, streamed: a JSON array, JSON Lines or a table (never a secret)."""
    from tokensync import bootstrap
    from tokensync.output.listing import Cut, peeked, write_listing
    from tokensync.store.models import STATUSES

    def open_listing(settings: Settings) -> tuple[Store, Iterable[Connection]]:
        statuses = tuple(dict.fromkeys(status or []))
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise UsageError(
                f"unknown status(es): {', '.join(unknown)} (known: {', '.join(STATUSES)})"
            )
        filters = check_filters(settings, platform or [], user or [])
        store = bootstrap.open_database(settings, read_only=True)
        try:
            rows = store.iter_connections(
                filters, statuses=statuses, after_id=after_id, limit=limit
            )
            return store, peeked(rows)
        except BaseException:
            store.close()
            raise

    store, rows = _guarded(ctx, open_listing)
    code = EXIT_OK
    try:
        write_listing(rows, output, sys.stdout)
    except Cut as cut:
        code = cut_short(cut.written, cut.cause, "tokens list")
    except OSError as exc:
        code = stdout_failed(exc, code)
    finally:
        store.close()
    raise typer.Exit(code)


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

    report = _guarded(ctx, read)
    if output == "json":
        exit_with(status_document(report), EXIT_OK)
    from tokensync.output.table import render_status

    try:
        render_status(report, sys.stdout)
    except OSError as exc:
        raise typer.Exit(stdout_failed(exc, EXIT_OK)) from None
    raise typer.Exit(EXIT_OK)


@db_app.command("migrate", epilog=EXAMPLES["db migrate"])
def db_migrate(ctx: typer.Context) -> None:
    """Create or upgrade the schema (idempotent)."""
    from tokensync import bootstrap
    from tokensync.output.documents import migrate_document
    from tokensync.runtime.clock import SystemClock

    def work(settings: Settings) -> tuple[Document, int]:
        with bootstrap.database(settings, migrate=False) as store:
            new = store.schema_version() == 0
            applied = store.migrate(SystemClock().now())
            if new and applied:
                warn(f"created a new tokensync database: {bootstrap.describe_database(settings)}")
            return migrate_document(store.engine, applied, store.schema_version()), EXIT_OK

    _finish(ctx, work)


@data_app.command("prune", epilog=EXAMPLES["data prune"])
def data_prune(
    ctx: typer.Context,
    deleted_before: Annotated[
        str,
        typer.Option(
            "--deleted-before",
            help="Remove items tombstoned longer ago than this (30d, 12h).",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Remove nothing: count what would be removed.")
    ] = False,
) -> None:
    """Remove tombstones (items the platforms no longer have) older than --deleted-before."""
    from tokensync import bootstrap
    from tokensync.connections.prune import prune
    from tokensync.output.documents import prune_document
    from tokensync.runtime.clock import SystemClock

    def work(settings: Settings) -> tuple[Document, int]:
        age = _duration(deleted_before, "--deleted-before") or 0.0
        before = SystemClock().now() - timedelta(seconds=age)
        with bootstrap.database(settings, create=False) as store:
            return prune_document(prune(store, before=before, dry_run=dry_run)), EXIT_OK

    _finish(ctx, work)


@keys_app.command("generate", epilog=EXAMPLES["keys generate"])
def keys_generate() -> None:
    """Print a new key, bare: TOKENSYNC_ENCRYPTION_KEYS=$(tokensync keys generate)."""
    from tokensync.crypto import generate_key

    sys.stdout.write(generate_key() + "\n")


@keys_app.command("rotate", epilog=EXAMPLES["keys rotate"])
def keys_rotate(ctx: typer.Context) -> None:
    """Re-encrypt every stored token with the primary (first) key."""
    from tokensync import bootstrap
    from tokensync.connections.key_rotation import rotate_keys
    from tokensync.output.documents import rotation_document
    from tokensync.output.progress import counter

    def work(settings: Settings) -> tuple[Document, int]:
        with (
            bootstrap.database(settings, create=False) as store,
            counter("keys rotate", every=1) as progress,
        ):
            keyring = bootstrap.load_keyring(settings)
            result = rotate_keys(store, keyring, settings.batch_size, progress)
        return rotation_document(result), EXIT_OK if result.success else EXIT_FAILURES

    _finish(ctx, work)


# `events` and `data changes` live in modules of their own, which take the helpers above.
from tokensync.cli import changes  # noqa: E402, F401
from tokensync.cli.events import events_app  # noqa: E402

app.add_typer(events_app, name="events")


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: usage errors too end as a JSON document and exit 2; SIGTERM and
    SIGINT end a command that is not a job as one too, with 143 or 130."""
    command = typer.main.get_command(app)
    args = hoist_global_options(command, sys.argv[1:] if argv is None else argv)
    ending.begin()
    with interrupts.raising_on_signals():
        try:
            code = command.main(args=args, prog_name="tokensync", standalone_mode=False)
        except typer.Exit as done:  # raised outside a command's own handling (the document
            code = done.exit_code  # was printed already)
        except Interrupted as exc:  # before a command began, or after its guard
            _last_words(interrupted_document(exc), exc.exit_code)
        except typer.Abort:
            _last_words(failure_document("aborted", "aborted"), 130)
        except typer.TyperException as exc:  # click's usage errors, as typer ships them
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if hasattr(exc, "show") and not ending.is_quiet():
                with interrupts.deferred():
                    exc.show()
            context = getattr(exc, "ctx", None)
            name = context.command.name if context is not None and context.command else None
            code = getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE
            _last_words(failure_document("usage_error", message, name), code)
    sys.exit(code if isinstance(code, int) else 0)


def _last_words(document: Document, code: int) -> NoReturn:
    try:
        exit_with(document, code)
    except typer.Exit as done:
        sys.exit(done.exit_code)


def run() -> NoReturn:
    """`tokensync` and `python -m tokensync`: main(), then leave at once.

    Tearing down every imported module (aiohttp, psycopg, httpx, ...) cost about 60 ms at each
    exit, a fifth of a run with nothing to do. By the time main() ends, the database, the HTTP
    client and every file are closed and the worker threads joined; only the standard streams and
    logging's handlers hold buffers, and they are flushed here.
    """
    from tokensync.cli.streams import ensure_standard_streams

    closed = ensure_standard_streams()
    code: object = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):  # sys.exit("message") semantics
        if code is not None:
            sys.stderr.write(f"{code}\n")
        code = 0 if code is None else 1
    if 1 in closed:  # `>&-`: what was written went to /dev/null, so the output is lost
        code = stdout_failed(OSError(errno.EBADF, "stdout was closed"), code)
    import logging

    logging.shutdown()
    try:
        sys.stdout.flush()
    except OSError as exc:  # what a command wrote bare (--version) to a full or closed stdout
        code = stdout_failed(exc, code)
    except ValueError:  # closed
        code = code or EXIT_FAILURES
    with contextlib.suppress(OSError, ValueError):  # nowhere left to say it
        sys.stderr.flush()
    os._exit(code)

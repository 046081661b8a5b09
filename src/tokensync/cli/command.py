"""What every command does: read the settings, run its work, print its document (or its error
document) and exit with the documented code; and the options and checks several commands share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from tokensync.cli.app import Globals
from tokensync.errors import EXIT_FAILURES, Interrupted, TokensyncError, UsageError, exit_code_for
from tokensync.output.ending import exit_with, warn
from tokensync.output.stdout import Document, error_document, failure_document, interrupted_document

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.client import TokenClient
    from tokensync.output.stdout import Document
    from tokensync.runtime.reportable import Reportable
    from tokensync.settings import Settings
    from tokensync.store.models import Filters

T = TypeVar("T")


def settings_of(ctx: typer.Context) -> Settings:
    """The settings, from the global options, the environment and the config file."""
    from tokensync.settings import load_settings

    g: Globals = ctx.obj
    return load_settings(database_url=g.database_url, config_path=g.config)


def guarded(ctx: typer.Context, work: Callable[[Settings], T]) -> T:
    """work(settings); a failure ends the command with its error document and exit code."""
    command = ctx.command.name
    url: str | None = None
    try:
        settings = settings_of(ctx)
        url = settings.database_url
        return work(settings)
    except TokensyncError as exc:
        document, code = error_document(exc, command), exit_code_for(exc)
    except Interrupted as exc:
        document, code = interrupted_document(exc, command), exc.exit_code
    except Exception as exc:  # a bug: say so without echoing a message that might hold a secret
        if ctx.obj.verbose:
            import traceback

            from tokensync.redaction import redact

            warn(redact(traceback.format_exc(), url).rstrip())
        message = f"unexpected {type(exc).__name__}; run with -v for the traceback"
        document, code = failure_document("internal_error", message, command), EXIT_FAILURES
    error = document["error"]
    if url and isinstance(error, dict):
        from tokensync.redaction import redact

        # every message was built without one; make sure
        error["message"] = redact(str(error["message"]), url)
    exit_with(document, code)


def finish(ctx: typer.Context, work: Callable[[Settings], tuple[Document, int]]) -> NoReturn:
    """Run a command; print its document (or its error) and exit with its code."""
    document, code = guarded(ctx, work)
    exit_with(document, code)


PlatformOpt = Annotated[
    list[str] | None,
    typer.Option("--platform", help="Only this platform (repeatable).", show_default=False),
]
UserOpt = Annotated[
    list[str] | None,
    typer.Option("--user", help="Only this user id (repeatable).", show_default=False),
]
MaxDurationOpt = Annotated[
    str | None,
    typer.Option("--max-duration", help="Stop claiming work after this long (90s, 4m, 1h)."),
]


def duration(value: str | None, option: str, *, allow_zero: bool = False) -> float | None:
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


def command_client(settings: Settings, progress: Callable[[Reportable], None]) -> TokenClient:
    """The client of a command: it stops on signals, and never creates a database."""
    from tokensync.client import TokenClient

    return TokenClient(settings, progress=progress, handle_signals=True, create_database=False)


def item_logger(ctx: typer.Context, event: str) -> Callable[[Reportable], None]:
    """With -v, a log line per item on stderr (its log_fields: ids and outcome, never a secret)."""
    from tokensync.output.progress import log_line

    def log(item: Reportable) -> None:
        if ctx.obj.verbose:
            log_line(event, **item.log_fields())

    return log

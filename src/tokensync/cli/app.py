"""The typer app: its command groups and the global options (options.py moves those typed after
the command before it). The commands live in a module per group, registered by main.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tokensync import __version__
from tokensync.cli.options import group, help_when_bare
from tokensync.output import ending

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    pass


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
revocations_app = group("Revocations the platforms push: verified, then applied.")
events_app = group("Lifecycle events: list them, deliver them to webhook_url, replay them.")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")
app.add_typer(events_app, name="events")
app.add_typer(revocations_app, name="revocations")


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
    """The global options (options.py moves those typed after the command before it)."""
    ending.set_quiet(quiet)
    ctx.obj = Globals(database_url=database_url, config=config, verbose=verbose)
    help_when_bare(ctx)

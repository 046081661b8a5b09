"""`tokens import`, `tokens get`, `tokens disconnect` and `tokens list`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from tokensync import interrupts
from tokensync.cli.app import tokens_app
from tokensync.cli.command import (
    PlatformOpt,
    UserOpt,
    check_filters,
    command_client,
    duration,
    finish,
    guarded,
    item_logger,
)
from tokensync.cli.options import EXAMPLES, ListFormat
from tokensync.errors import EXIT_OK, TokensyncError, UsageError, exit_code_for
from tokensync.output.ending import cut_short, stdout_failed, warn
from tokensync.output.stdout import Document, printed
from tokensync.runtime import event_loop

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.crypto import Keyring
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings
    from tokensync.store import Connection, Store
    from tokensync.store.models import OldGrants


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
    keep_old_grant: Annotated[
        bool,
        typer.Option(
            "--keep-old-grant",
            help="Leave a grant a line replaces valid at the provider (by default it is revoked "
            "once the new one is stored, where that ends it alone).",
        ),
    ] = False,
) -> None:
    """Upsert connections from JSON Lines, encrypting the tokens; all or nothing."""

    def work(settings: Settings) -> tuple[Document, int]:
        keep = keep_old_grant
        if file is None or str(file) == "-":
            if sys.stdin.isatty():
                warn("reading JSON Lines from stdin (the terminal); end with Ctrl-D")
            return _import(settings, _stdin_bytes(), dry_run=dry_run, keep_old_grant=keep)
        try:
            handle = file.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
        with handle:
            return _import(settings, handle, dry_run=dry_run, keep_old_grant=keep)

    finish(ctx, work)


def _stdin_bytes() -> BinaryIO:
    """stdin as bytes: each line is decoded (and refused if it is not UTF-8) by the import."""
    return sys.stdin.buffer


def _import(
    settings: Settings, stream: BinaryIO, *, dry_run: bool, keep_old_grant: bool
) -> tuple[Document, int]:
    from tokensync import bootstrap
    from tokensync.connections.token_import import check_import, import_tokens
    from tokensync.output.documents import import_document
    from tokensync.output.progress import counter
    from tokensync.refresh.old_grants import revocable_alone
    from tokensync.runtime.clock import SystemClock

    now = SystemClock().now()
    replaced = [] if keep_old_grant else revocable_alone(settings.platforms)
    with counter("tokens import") as progress:
        if dry_run:
            found = check_import(stream, settings.platforms, now, progress)
            return {"success": True, "dryRun": True, "connections": found}, EXIT_OK
        keyring = bootstrap.load_keyring(settings)
        with bootstrap.database(settings) as store:
            bootstrap.check_keyring(store, keyring)
            counts = import_tokens(
                store, stream, settings.platforms, keyring, now, progress, replaced
            )
    if counts.replaced_grants:
        # The new grants are committed: now the old ones are revoked, best effort.
        old = event_loop.run(_revoke_old_grants(settings, keyring))
        counts = dataclasses.replace(counts, old_grants=old)
    return printed(import_document(counts), counts)


async def _revoke_old_grants(settings: Settings, keyring: Keyring) -> OldGrants:
    from tokensync import bootstrap
    from tokensync.jobs.run_record import new_run_id
    from tokensync.refresh.old_grants import revoke_replaced

    async with bootstrap.job_deps(
        settings,
        owner=new_run_id("import"),
        concurrency=8,
        keyring=keyring,
        progress=lambda item: None,
    ) as deps:
        return await revoke_replaced(deps)


StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        help="Only this status (repeatable): active, needs_reauth, disabled, revoked.",
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
        ttl = duration(min_ttl, "--min-ttl", allow_zero=True) or 0.0
        try:
            with (
                interrupts.restored(),
                command_client(settings, item_logger(ctx, "get")) as client,
            ):
                token = client.get_token(user, platform, min_ttl=ttl, force_refresh=force_refresh)
        except TokensyncError as exc:
            return connection_error_document(user, platform, exc), exit_code_for(exc)
        return printed(token_document(token), token)

    finish(ctx, work)


@tokens_app.command("disconnect", epilog=EXAMPLES["tokens disconnect"])
def tokens_disconnect(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user id.", show_default=False)],
    platform: Annotated[str, typer.Option("--platform", help="The platform.", show_default=False)],
    keep_data: Annotated[
        bool,
        typer.Option("--keep-data", help="Keep the polled items live; delete the rest."),
    ] = False,
    no_revoke: Annotated[
        bool, typer.Option("--no-revoke", help="Delete locally only; the grant stays valid.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be revoked and deleted; do nothing.")
    ] = False,
) -> None:
    """Revoke the grant at the provider, then delete the tokens and sync state; the items
    become tombstones in the change feed (deletedReason disconnected)."""
    from tokensync.output.documents import connection_error_document, disconnect_document

    def work(settings: Settings) -> tuple[Document, int]:
        check_filters(settings, [platform], [user])
        progress = item_logger(ctx, "disconnect")
        try:
            with (
                interrupts.restored(),
                command_client(settings, progress) as client,
            ):
                done = client.disconnect(
                    user, platform, revoke=not no_revoke, keep_data=keep_data, dry_run=dry_run
                )
        except TokensyncError as exc:
            return connection_error_document(user, platform, exc), exit_code_for(exc)
        return printed(disconnect_document(done), done)

    finish(ctx, work)


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

    store, rows = guarded(ctx, open_listing)
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

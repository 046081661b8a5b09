"""`data prune` and `data changes` (the change feed of the polled data after a position,
store/changes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tokensync.cli.app import data_app
from tokensync.cli.command import PlatformOpt, UserOpt, duration, finish, guarded
from tokensync.cli.options import EXAMPLES
from tokensync.output.stdout import Document, printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings
    from tokensync.store import Store
    from tokensync.store.changes import ChangePage


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
        age = duration(deleted_before, "--deleted-before") or 0.0
        before = SystemClock().now() - timedelta(seconds=age)
        with bootstrap.database(settings, create=False) as store:
            pruned = prune(store, before=before, dry_run=dry_run)
            return printed(prune_document(pruned), pruned)

    finish(ctx, work)


# The changes a page of `--format json` holds unless --limit says; jsonl reads in pages of this.
PAGE = 1000


@data_app.command("changes", epilog=EXAMPLES["data changes"])
def data_changes(
    ctx: typer.Context,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            help="Only changes after this position (the `next` of the last read); leave it out "
            "to read from the beginning.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help=f"At most this many changes (json: {PAGE} unless set; jsonl: all there are).",
            show_default=False,
        ),
    ] = None,
    user: UserOpt = None,
    platform: PlatformOpt = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only this endpoint.", show_default=False)
    ] = None,
    output: Annotated[
        Literal["json", "jsonl"],
        typer.Option("--format", help="json (one document) or jsonl (a line per change)."),
    ] = "json",
) -> None:
    """Every change to the polled data after a position, in commit order, an item once."""
    from tokensync import bootstrap
    from tokensync.output.change_documents import change_lines, changes_document
    from tokensync.output.stdout import emit_lines
    from tokensync.store.models import Filters

    filters = Filters(platforms=tuple(platform or ()), users=tuple(user or ()))

    def read(store: Store, start: str | None, most: int) -> ChangePage:
        return store.read_changes(start, limit=most, filters=filters, endpoint=endpoint)

    if output == "json":

        def work(settings: Settings) -> tuple[Document, int]:
            with bootstrap.database(settings, read_only=True) as store:
                page = read(store, after, limit or PAGE)
                return printed(changes_document(page), page)

        finish(ctx, work)

    def first(settings: Settings) -> tuple[Store, ChangePage]:
        # The first page inside the guard: a bad or expired position ends as its document.
        store = bootstrap.open_database(settings, read_only=True)
        try:
            return store, read(store, after, min(limit or PAGE, PAGE))
        except BaseException:
            store.close()
            raise

    store, page = guarded(ctx, first)

    def pages() -> Iterator[ChangePage]:
        current, left = page, (limit or 0) - len(page.changes)
        yield current
        while current.has_more and (limit is None or left > 0):
            current = read(store, current.next, PAGE if limit is None else min(left, PAGE))
            left -= len(current.changes)
            yield current

    try:
        emit_lines(change_lines(pages()))
    finally:
        store.close()

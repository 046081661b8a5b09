"""`tokensync data changes`: the change feed of the polled data after a position
(store/changes.py). A thin command over Store.read_changes, sharing cli.py's helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tokensync.cli.app import PlatformOpt, UserOpt, _finish, _guarded, data_app
from tokensync.cli.options import EXAMPLES
from tokensync.errors import EXIT_OK

if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings
    from tokensync.store import Store
    from tokensync.store.changes import ChangePage

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
                return changes_document(read(store, after, limit or PAGE)), EXIT_OK

        _finish(ctx, work)

    def first(settings: Settings) -> tuple[Store, ChangePage]:
        # The first page inside the guard: a bad or expired position ends as its document.
        store = bootstrap.open_database(settings, read_only=True)
        try:
            return store, read(store, after, min(limit or PAGE, PAGE))
        except BaseException:
            store.close()
            raise

    store, page = _guarded(ctx, first)

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

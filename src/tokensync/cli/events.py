"""`events list`, `events deliver` and `events replay`: the lifecycle events as JSON Lines,
delivered to webhook_url, replayed from a position (events/event_log.py, events/delivery.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from tokensync.cli.app import events_app
from tokensync.cli.command import MaxDurationOpt, duration, finish, guarded, item_logger
from tokensync.cli.options import EXAMPLES
from tokensync.output.stdout import Document, printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings
    from tokensync.store import Store
    from tokensync.store.models import StoredEvent


TypeOpt = Annotated[
    list[str] | None,
    typer.Option("--type", help="Only events of this type (repeatable).", show_default=False),
]


@events_app.command("list", epilog=EXAMPLES["events list"])
def events_list(
    ctx: typer.Context,
    after: Annotated[
        int, typer.Option("--after", min=0, help="Only events after this position (seq).")
    ] = 0,
    event_type: TypeOpt = None,
) -> None:
    """The events as JSON Lines, oldest first: seq, id, type, timestamp, data, delivery."""
    from tokensync import bootstrap
    from tokensync.events.event_log import check_types, published_events
    from tokensync.output.event_documents import event_document
    from tokensync.output.stdout import emit_lines

    def open_log(settings: Settings) -> tuple[Store, Iterator[StoredEvent]]:
        types = check_types(event_type or [])
        store = bootstrap.open_database(settings, create=False)
        try:
            return store, published_events(store, after=after, types=types)
        except BaseException:
            store.close()
            raise

    store, events = guarded(ctx, open_log)
    try:
        emit_lines(event_document(e) for e in events)
    finally:
        store.close()


@events_app.command("deliver", epilog=EXAMPLES["events deliver"])
def events_deliver(
    ctx: typer.Context,
    max_duration: MaxDurationOpt = None,
    reenable: Annotated[
        bool,
        typer.Option(
            "--reenable", help="Deliver again to a webhook_url that answered 410 Gone before."
        ),
    ] = False,
) -> None:
    """Deliver the pending events to webhook_url (on a schedule of its own, or by hand)."""
    from tokensync import bootstrap
    from tokensync.errors import ConfigError
    from tokensync.events.delivery import deliver
    from tokensync.output.event_documents import deliver_document

    def work(settings: Settings) -> tuple[Document, int]:
        if settings.webhook_url is None:
            raise ConfigError("events deliver sends to webhook_url, and none is configured")
        budget = duration(max_duration, "--max-duration")
        report = bootstrap.run_events(
            settings,
            lambda deps, stop: deliver(
                deps, budget=budget, stop=stop, reenable=reenable, report=deps.progress
            ),
            max_duration=budget,
            progress=item_logger(ctx, "deliver"),
        )
        return printed(deliver_document(report), report)

    finish(ctx, work)


@events_app.command("replay", epilog=EXAMPLES["events replay"])
def events_replay(
    ctx: typer.Context,
    after: Annotated[
        int,
        typer.Option("--after", min=0, help="Send again the events after this position (seq)."),
    ],
    event_type: TypeOpt = None,
    max_duration: MaxDurationOpt = None,
) -> None:
    """Send again the delivered and dead events after a position, in order, with their ids.

    Events of a user erased since (user.erased among them) no longer name the user and are not
    sent again: the document counts them in notReplayed."""
    from tokensync import bootstrap
    from tokensync.events.event_log import check_types, replay
    from tokensync.output.event_documents import deliver_document

    def work(settings: Settings) -> tuple[Document, int]:
        types = check_types(event_type or [])
        budget = duration(max_duration, "--max-duration")
        done = bootstrap.run_events(
            settings,
            lambda deps, stop: replay(deps, stop, after=after, types=types, budget=budget),
            max_duration=budget,
            progress=item_logger(ctx, "replay"),
        )
        code = done.exit_code
        document = deliver_document(
            done.report, replayed=done.replayed, not_replayed=done.not_replayed
        )
        return document, code

    finish(ctx, work)

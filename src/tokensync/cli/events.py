"""`tokensync events`: list the lifecycle events (JSON Lines), deliver the pending ones to
webhook_url, replay them from a position. Thin commands over jobs/event_log.py and
jobs/delivery.py, sharing cli.py's helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from tokensync.cli.app import MaxDurationOpt, _duration, _finish, _guarded, _logger
from tokensync.cli.options import EXAMPLES, group
from tokensync.errors import EXIT_FAILURES, EXIT_OK

if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings
    from tokensync.store import Store
    from tokensync.store.models import StoredEvent

events_app = group("Lifecycle events: list them, deliver them to webhook_url, replay them.")

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

    store, events = _guarded(ctx, open_log)
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
        budget = _duration(max_duration, "--max-duration")
        report = bootstrap.run_events(
            settings,
            lambda deps, stop: deliver(
                deps, budget=budget, stop=stop, reenable=reenable, report=deps.progress
            ),
            max_duration=budget,
            progress=_logger(ctx, "deliver"),
        )
        return deliver_document(report), EXIT_OK if report.success else EXIT_FAILURES

    _finish(ctx, work)


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
        budget = _duration(max_duration, "--max-duration")
        done = bootstrap.run_events(
            settings,
            lambda deps, stop: replay(deps, stop, after=after, types=types, budget=budget),
            max_duration=budget,
            progress=_logger(ctx, "replay"),
        )
        code = EXIT_OK if done.report.success else EXIT_FAILURES
        document = deliver_document(
            done.report, replayed=done.replayed, not_replayed=done.not_replayed
        )
        return document, code

    _finish(ctx, work)

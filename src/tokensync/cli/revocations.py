"""`revocations ingest`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tokensync import interrupts
from tokensync.cli.app import revocations_app
from tokensync.cli.command import command_client, finish, item_logger
from tokensync.cli.options import EXAMPLES
from tokensync.output.stdout import Document, printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings

Source = Literal["github", "google-risc"]


@revocations_app.command("ingest", epilog=EXAMPLES["revocations ingest"])
def revocations_ingest(
    ctx: typer.Context,
    source: Annotated[
        Source,
        typer.Option(
            "--source",
            help="github (the github_app_authorization webhook) or google-risc (a security "
            "event token of Google's Cross-Account Protection).",
            show_default=False,
        ),
    ],
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            help="A header of the delivery, 'Name: value' (repeatable); stdin is then its raw "
            'body. Without any, stdin is a JSON envelope {"headers": {...}, "body": "..."} '
            "(or, for google-risc, the token alone).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Verify one revocation delivery from stdin, then revoke the connections it names, once."""
    from tokensync.output.revocation_documents import ingest_document
    from tokensync.revocations.delivery import read_delivery

    def work(settings: Settings) -> tuple[Document, int]:
        delivery = read_delivery(sys.stdin.buffer, header or [])
        progress = item_logger(ctx, "revocation")
        with interrupts.restored(), command_client(settings, progress) as client:
            done = client.ingest_revocation(source, delivery.body, delivery.headers)
        return printed(ingest_document(done), done)

    finish(ctx, work)

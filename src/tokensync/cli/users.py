"""`users erase`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tokensync import interrupts
from tokensync.cli.app import users_app
from tokensync.cli.command import command_client, finish, item_logger
from tokensync.cli.options import EXAMPLES
from tokensync.output.stdout import Document, printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings


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
        progress = item_logger(ctx, "erase")
        with (
            interrupts.restored(),
            command_client(settings, progress) as client,
        ):
            receipt = client.erase_user(user, revoke=not no_revoke, dry_run=dry_run)
        return printed(erase_document(receipt), receipt)

    finish(ctx, work)

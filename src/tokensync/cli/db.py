"""`db migrate`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tokensync.cli.app import db_app
from tokensync.cli.command import finish
from tokensync.cli.options import EXAMPLES
from tokensync.errors import EXIT_OK
from tokensync.output.ending import warn
from tokensync.output.stdout import Document

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings


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

    finish(ctx, work)

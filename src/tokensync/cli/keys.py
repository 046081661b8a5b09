"""`keys generate` and `keys rotate`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from tokensync.cli.app import keys_app
from tokensync.cli.command import finish
from tokensync.cli.options import EXAMPLES
from tokensync.output.stdout import Document, printed

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document
    from tokensync.settings import Settings


@keys_app.command("generate", epilog=EXAMPLES["keys generate"])
def keys_generate() -> None:
    """Print a new key, bare: TOKENSYNC_ENCRYPTION_KEYS=$(tokensync keys generate)."""
    from tokensync.crypto import generate_key

    sys.stdout.write(generate_key() + "\n")


@keys_app.command("rotate", epilog=EXAMPLES["keys rotate"])
def keys_rotate(ctx: typer.Context) -> None:
    """Re-encrypt every stored token with the primary (first) key."""
    from tokensync import bootstrap
    from tokensync.connections.key_rotation import rotate_keys
    from tokensync.output.documents import rotation_document
    from tokensync.output.progress import counter

    def work(settings: Settings) -> tuple[Document, int]:
        with (
            bootstrap.database(settings, create=False) as store,
            counter("keys rotate", every=1) as progress,
        ):
            keyring = bootstrap.load_keyring(settings)
            result = rotate_keys(store, keyring, settings.batch_size, progress)
        return printed(rotation_document(result), result)

    finish(ctx, work)

"""`data prune`: remove the tombstones older than a date, a batch at a time.

Tombstones are kept so that the application can carry deletions over to its own copies; once it
has, they are only weight. Each batch is one statement committed on its own (a bounded lock, a
bounded write-ahead log), so the command is safe to interrupt, to re-run, and to run beside the
jobs: an item that comes back meanwhile is live again and no longer a tombstone to remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tokensync.errors import EXIT_OK
from tokensync.store import Store

# Rows removed by one statement.
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class PruneResult:
    """What a prune did (or, for a dry run, would do)."""

    deleted_before: datetime
    dry_run: bool
    count: int  # tombstones removed, or that a dry run found

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


def prune(
    store: Store, *, before: datetime, dry_run: bool, batch: int = PRUNE_BATCH
) -> PruneResult:
    """Remove every item tombstoned before `before` (a dry run only counts them)."""
    if dry_run:
        return PruneResult(before, True, store.count_tombstones(before))
    removed = 0
    while True:
        done = store.prune_tombstones(before, batch)
        removed += done
        if done < batch:
            return PruneResult(before, False, removed)

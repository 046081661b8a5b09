"""What progress and -v logging report of an item of a run, as it completes."""

from __future__ import annotations

from typing import Protocol


class Reportable(Protocol):
    """An item of a run that progress and -v logging report as it completes."""

    @property
    def success(self) -> bool:
        """Whether the item ended well."""
        ...

    def log_fields(self) -> dict[str, object]:
        """What a log line says of it: ids, outcome, timing; never a secret.

        An item is named by its connection's id, never by its user's id: logs outlive the rows
        they describe, an erased user's id must not be left in them, and a connection id names
        nothing once its row is gone (ids are not reused: connecting again makes a new one).
        """
        ...

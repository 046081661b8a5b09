"""Times as tokensync writes them in JSON: its documents, and the events it sends."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp to the second: 2026-11-28T14:07:30Z (isoformat: the year always has four
    digits)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"

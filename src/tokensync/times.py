"""The times tokensync stores: the sane range, and the longest duration a setting may hold.

A time outside the range is refused where it enters (an import line) and, should another program
have written one, makes the row that holds it unreadable where it is read: that row fails, never
the run. The range keeps every formatting and arithmetic step far from datetime's own limits
(years 1 and 9999): a year before 1000 does not even print as four digits.
"""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# The longest duration any setting or option takes (10 years): `now` plus it stays in range.
MAX_DURATION = 3650 * 86400.0


def in_range(value: datetime) -> bool:
    """Whether an aware time lies in [EARLIEST, LATEST)."""
    return EARLIEST <= value < LATEST


def describe_range() -> str:
    """The range as an error message states it."""
    return f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"

"""Times and durations: the sane range of a stored time, the longest duration a setting may hold,
times as tokensync writes them in JSON (`iso`), durations as people write them (`parse_duration`).

A time outside the range is refused where it enters (an import line) and, should another program
have written one, makes the row that holds it unreadable where it is read: that row fails, never
the run. The range keeps every formatting and arithmetic step far from datetime's own limits
(years 1 and 9999): a year before 1000 does not even print as four digits.
"""

from __future__ import annotations

import math
import re
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


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp to the second: 2026-11-28T14:07:30Z (isoformat: the year always has four
    digits)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | int | float) -> float:
    """A duration as people write it (`90s`, `10m`, `1h`, `1h30m`, `250ms`, or bare seconds), in
    seconds; raise ValueError on anything else.

    Return the duration in seconds; raise ValueError on anything else.

    At most MAX_DURATION (10 years): `99999999999d` would overflow every time it is added to.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"not a duration: {text!r} (a number of seconds, 0 or more)")
        return _bounded(float(text), str(text))
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return _bounded(float(value), text)
    pos, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(value):
        raise ValueError(f"not a duration: {text!r} (write it like 90s, 10m or 1h)")
    return _bounded(total, text)


def _bounded(seconds: float, shown: str) -> float:
    if not seconds <= MAX_DURATION:  # also catches inf, from a string of 400 digits
        raise ValueError(f"{shown[:40]!r} is longer than the longest duration allowed (3650d)")
    return seconds

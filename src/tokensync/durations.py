"""Durations as people write them: `90s`, `10m`, `1h`, `1h30m`, `250ms`, or bare seconds."""

from __future__ import annotations

import math
import re

from tokensync.times import MAX_DURATION

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | int | float) -> float:
    """Return the duration in seconds; raise ValueError on anything else.

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

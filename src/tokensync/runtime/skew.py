"""How far this host's clock is from the database's: shown by `status`, warned of by the jobs.

Leases are judged by the database's clock (PostgreSQL's own; a SQLite file shares this host's),
so a host far off it refreshes nothing twice. What still goes by this host's clock is what is
stored (expiries, when a token was renewed) and what is due: a host minutes ahead refreshes
early, one behind refreshes late. That is worth a warning, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tokensync.store import Store


@dataclass(frozen=True)
class ClockSkew:
    """This host's clock against the database's."""

    seconds: float  # positive: this host is ahead of the database
    threshold: float

    @property
    def too_far(self) -> bool:
        """Whether it is past the threshold (clock_skew_warning)."""
        return abs(self.seconds) > self.threshold

    def warning(self) -> str:
        """What a job's document says of it."""
        way = "ahead of" if self.seconds > 0 else "behind"
        return (
            f"this host's clock is {abs(self.seconds):.1f} s {way} the database's (more than "
            f"clock_skew_warning, {self.threshold:g} s): leases go by the database's clock, but "
            "expiries and due windows by this host's; synchronise it (NTP)"
        )


def clock_skew(store: Store, now: Callable[[], datetime], threshold: float) -> ClockSkew | None:
    """This host's clock against the database's, read in one round trip (its midpoint); None
    where the database has no clock of its own (a SQLite file on this host)."""
    before = now()
    database = store.database_now()
    if database is None:
        return None
    after = now()
    midpoint = before + (after - before) / 2
    return ClockSkew((midpoint - database).total_seconds(), threshold)

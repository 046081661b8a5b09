"""The change feed: every change to a polled item, in commit order, one place per item.

A row of user_platform_data holds its place in the feed: (change_txn, id), where change_txn is
the writing transaction's id on PostgreSQL (pg_current_xact_id()) and the writing transaction's
number on SQLite (change_feed.counter, one writer at a time). Each change moves the row to the
writer's place, so the feed is compacted: an item comes once after any position, in its latest
state. A read only returns rows below the horizon: on PostgreSQL the oldest transaction still
running, so no transaction can commit behind a position handed out. Positions travel as opaque
strings (`<txn>-<id>`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from tokensync.errors import EXIT_OK, PositionExpiredError, UsageError
from tokensync.store.engine import filter_params
from tokensync.store.models import BatchCounts, Filters
from tokensync.store.outbox import OutboxMixin, data_changed

_POSITION = re.compile(r"(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})")
# Where a first read starts: before every change (rows stored before the feed existed have 0).
BEGINNING = (0, 0)
_ALL = Filters()


def parse_position(text: str | None) -> tuple[int, int]:
    """A position as the feed handed it out; None is the beginning."""
    if text is None:
        return BEGINNING
    match = _POSITION.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"{text[:40]!r} is not a position of the change feed (pass the `next` or a "
            "`position` that `data changes` printed, or leave --after out to start from the "
            "beginning)"
        )
    return int(match.group(1)), int(match.group(2))


def format_position(position: tuple[int, int]) -> str:
    """The opaque text of a position."""
    return f"{position[0]}-{position[1]}"


@dataclass(frozen=True)
class Change:
    """One item's latest change: an upsert (its data) or a delete (why)."""

    position: str
    op: str  # "upsert" or "delete"
    user_id: str
    platform: str
    endpoint: str
    item_key: str
    data: object
    deleted_reason: str | None
    changed_at: datetime


@dataclass(frozen=True)
class ChangePage:
    """A page of the feed; `next` is where the next read starts (it may move with no change)."""

    changes: list[Change]
    next: str
    has_more: bool

    @property
    def exit_code(self) -> int:
        """0: this result exists only when the command succeeded (Concluded)."""
        return EXIT_OK


class ChangesMixin(OutboxMixin):
    """The change feed's queries, shared by both engines."""

    def read_changes(
        self,
        after: str | None,
        *,
        limit: int,
        filters: Filters = _ALL,
        endpoint: str | None = None,
    ) -> ChangePage:
        """The changes after `after` (None: from the beginning), oldest first, at most
        `limit`; PositionExpiredError if tombstones past `after` were pruned since."""
        start = parse_position(after)
        with self.snapshot():
            head = self._run("change_horizon", {})[0]
            horizon = int(head["horizon"])
            pruned = (int(head["pruned_txn"]), int(head["pruned_id"]))
            if after is not None and start < pruned:
                raise PositionExpiredError(
                    f"position {format_position(start)} is older than the tombstones `data "
                    "prune` removed (up to "
                    f"{format_position(pruned)}): read the feed again from the beginning "
                    "(leave --after out) and replace your copy"
                )
            params = {
                "txn": start[0],
                "id": start[1],
                "horizon": horizon,
                "limit": limit + 1,
                "all_endpoints": endpoint is None,
                "endpoint": endpoint or "",
                **filter_params(filters),
            }
            rows = self._run("read_changes", params)
        has_more = len(rows) > limit
        changes = [_change(row) for row in rows[:limit]]
        # All below the horizon read: the next read starts there (never before this one's start).
        last = changes[-1].position if has_more else format_position(max(start, (horizon, 0)))
        return ChangePage(changes, last, has_more)

    def note_data_changed(
        self,
        connection_id: int,
        user_id: str,
        platform: str,
        endpoint: str,
        counts: BatchCounts,
        now: datetime,
    ) -> None:
        """Write the data.changed event of a poll of an endpoint that changed items, when its
        adapter could not say which batch was its last (otherwise that batch's transaction
        writes it: store/polling.py's Announcement). Its own transaction begins after the poll's
        last one committed, so its place in the feed (its readUpTo, which the statement fills
        in) comes after every change of the poll: a reader whose `next` reached it has read them
        all. On PostgreSQL one statement, no more."""
        event = data_changed(connection_id, user_id, platform, endpoint, counts)
        with self.changing():
            self._emit(event, now, read_up_to="own")

    def oldest_position(self) -> str:
        """The oldest position still readable: a reader before it has expired."""
        head = self._run("change_horizon", {})[0]
        return format_position((int(head["pruned_txn"]), int(head["pruned_id"])))


def _change(row: dict[str, object]) -> Change:
    deleted_at = row["deleted_at"]
    fetched_at = row["fetched_at"]
    position = format_position((int(str(row["txn"])), int(str(row["id"]))))
    changed = deleted_at if isinstance(deleted_at, datetime) else fetched_at
    if not isinstance(changed, datetime):
        raise TypeError("a stored item without a readable time")
    return Change(
        position=position,
        op="delete" if deleted_at is not None else "upsert",
        user_id=str(row["user_id"]),
        platform=str(row["platform"]),
        endpoint=str(row["endpoint"]),
        item_key=str(row["item_key"]),
        data=None if deleted_at is not None else row["data"],
        deleted_reason=None if deleted_at is None else str(row["deleted_reason"]),
        changed_at=changed,
    )

"""The outbox: each lifecycle event is written in the transaction of the change it reports, so
that a run that dies loses none and invents none. What each event carries is here too.

An event names the connection (its id, user and platform) and says what happened; it never holds
a token, and user.erased holds the user id alone (store/webhook_queue.py removes even that once
it is delivered or dead).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from tokensync.store.engine import Engine, Unreadable
from tokensync.store.models import BatchCounts, NewEvent
from tokensync.times import iso

# An event is retried for this long after it is written (or replayed), then given up as dead.
DELIVERY_WINDOW = timedelta(days=3)
# Which change-feed place a data.changed event's statement fills in as readUpTo: "own", its own
# transaction's (one of its own, after the changes it reports); "after", the place just after the
# transaction it shares with the last of those changes.
ReadUpTo = Literal["own", "after"]


def new_event_id() -> str:
    """A webhook-id: unique, and the same on every attempt to deliver its event."""
    return f"evt_{uuid.uuid4().hex}"


def connection_event(
    kind: str, connection_id: int, user_id: str, platform: str, **details: object
) -> NewEvent:
    """A connection.* event: the connection named, and what the type adds."""
    data: dict[str, object] = {
        "connectionId": connection_id,
        "userId": user_id,
        "platform": platform,
        **details,
    }
    return NewEvent(f"connection.{kind}", user_id, connection_id, data)


def needs_reauth(row: Mapping[str, object], code: str, message: str) -> NewEvent:
    """The grant is dead: the user must connect again."""
    return connection_event("needs_reauth", *_names(row), error={"code": code, "message": message})


def recovered(row: Mapping[str, object], was: str) -> NewEvent:
    """A connection that was not active (needs_reauth, disabled) is active again."""
    return connection_event("recovered", *_names(row), previousStatus=was)


def failing(row: Mapping[str, object]) -> NewEvent:
    """Refreshes have failed for longer than failing_after (its row as notice_failing reads it)."""
    return connection_event(
        "failing",
        *_names(row),
        failingSince=iso(_time(row, "streak_started_at")),
        failures=row["failure_count"],
        nextAttemptAt=iso(_time(row, "next_attempt_at")),
        error={"code": row["last_error_code"], "message": row["last_error_message"]},
    )


def expiring(row: Mapping[str, object]) -> NewEvent:
    """The grant itself ends soon (its row as notice_expiring reads it)."""
    return connection_event(
        "expiring", *_names(row), grantEndsAt=iso(_time(row, "refresh_token_expires_at"))
    )


def disconnected(connection_id: int, user_id: str, platform: str, revoked: bool) -> NewEvent:
    """The connection was removed (by `tokens disconnect`, or by an erase of its user)."""
    return connection_event("disconnected", connection_id, user_id, platform, revoked=revoked)


def revoked(connection_id: int, user_id: str, platform: str, source: str, reason: str) -> NewEvent:
    """The user withdrew consent at the provider, which told us (`revocations ingest`): the
    connection is revoked and its tokens are gone."""
    return connection_event(
        "revoked", connection_id, user_id, platform, source=source, reason=reason
    )


def user_erased(user_id: str) -> NewEvent:
    """Everything tokensync held of a user is gone; the event holds the id alone, which is what
    the application needs to recognise them."""
    return NewEvent("user.erased", user_id, None, {"userId": user_id})


def data_changed(
    connection_id: int, user_id: str, platform: str, endpoint: str, counts: BatchCounts
) -> NewEvent:
    """A poll of an endpoint changed items: how many; the statement that writes it adds the
    change-feed position a reader has read all of them at (readUpTo). Never the items."""
    data: dict[str, object] = {
        "connectionId": connection_id,
        "userId": user_id,
        "platform": platform,
        "endpoint": endpoint,
        "added": counts.new,
        "updated": counts.changed,
        "deleted": counts.deleted,
    }
    return NewEvent("data.changed", user_id, connection_id, data)


def event_params(event: NewEvent, now: datetime) -> dict[str, object]:
    """The parameters of the statements that write an event (a new id each time)."""
    return {
        "event_id": new_event_id(),
        "type": event.type,
        "user_id": event.user_id,
        "connection_id": event.connection_id,
        "data": event.data,
        "now": now,
        "give_up_at": now + DELIVERY_WINDOW,
    }


def _names(row: Mapping[str, object]) -> tuple[int, str, str]:
    return int(str(row["id"])), str(row["user_id"]), str(row["platform"])


def _time(row: Mapping[str, object], column: str) -> datetime | None:
    value = row.get(column)
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, Unreadable):  # stored by another program, out of range: not known
        return None
    # SQLite reads a column as a time only by its name (*_at): anything else is a bug here.
    raise TypeError(f"{column} is not a time")


class OutboxMixin(Engine):
    """Writing events, shared by both engines."""

    def _emit(self, event: NewEvent, now: datetime, *, read_up_to: ReadUpTo | None = None) -> str:
        """Write one event and return its id; the caller runs this inside the transaction of
        its change. `read_up_to`: the statement adds a change-feed place to the data
        (data.changed; see ReadUpTo)."""
        params = event_params(event, now)
        if read_up_to is None:
            self._rowcount("insert_event", params)
        elif read_up_to == "own":
            self._rowcount("insert_data_changed", params)
        else:
            self._rowcount("insert_data_changed_after", params)
        return str(params["event_id"])

    def notice_failing(self, *, failing_before: datetime, now: datetime, limit: int) -> int:
        """Announce (connection.failing) the streaks of refresh failures that began before
        `failing_before` and were not announced yet, up to `limit` of them; return how many."""
        params = {"failing_before": failing_before, "now": now, "limit": limit}
        with self.claiming():
            rows = self._run("notice_failing", params)
            for row in rows:
                self._emit(failing(row), now)
        return len(rows)

    def notice_expiring(self, *, ends_before: datetime, now: datetime, limit: int) -> int:
        """Announce (connection.expiring) the grants that end before `ends_before` and were not
        announced for that end yet, up to `limit` of them; return how many."""
        params = {"ends_before": ends_before, "now": now, "limit": limit}
        with self.claiming():
            rows = self._run("notice_expiring", params)
            for row in rows:
                self._emit(expiring(row), now)
        return len(rows)

"""The queue of events waiting for the webhook, as the store keeps it: publishing them, leasing
each user's oldest pending event, recording how an attempt went, and the webhook endpoint's state.

Events are published (numbered, `seq`) by one publisher at a time, in the order of writing, so a
reader that pages by `seq` (events list --after) never steps over an event still being written.
A user's events are delivered one at a time in that order: only the oldest pending one of a user
can be leased, so a later one never overtakes it, whatever runs deliver at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tokensync.store.engine import Engine, Row
from tokensync.store.models import Endpoint, EventCounts, StoredEvent

# What a user.erased event's data becomes once it is delivered or dead.
SCRUBBED: dict[str, object] = {}


class WebhookQueueMixin(Engine):
    """The queries of event delivery, listing and replay, shared by both engines."""

    def publish_events(self, limit: int = 1000) -> int:
        """Number every committed event not yet numbered, `limit` to a transaction; return how
        many."""
        published = 0
        while True:
            with self.transaction():
                self._run("lock_event_order", {})
                found = self._rowcount("publish_events", {"limit": limit})
            published += found
            if found < limit:
                return published

    def claim_event_heads(
        self, owner: str, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[StoredEvent]:
        """Lease to `owner` up to `limit` due events, each the oldest pending one of its user."""
        params = {"owner": owner, "now": now, "lease_until": lease_until, "limit": limit}
        with self.claiming():
            rows = self._run("claim_event_heads", params)
        return sorted((_event(r) for r in rows), key=lambda e: e.seq or 0)

    def event_delivered(self, event_id: int, owner: str, *, now: datetime) -> bool:
        """Record a delivery (a user.erased event loses its user id); False if the lease was
        lost meanwhile."""
        params = {"id": event_id, "owner": owner, "now": now, "scrubbed": SCRUBBED}
        return self._rowcount("event_delivered", params) == 1

    def event_failed(
        self, event_id: int, owner: str, *, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """Record a failed attempt and when to try again; False if the lease was lost."""
        params = {
            "id": event_id,
            "owner": owner,
            "error": error[:200],
            "next_attempt_at": next_attempt_at,
            "now": now,
        }
        return self._rowcount("event_failed", params) == 1

    def release_events(self, event_ids: Sequence[int], owner: str) -> None:
        """Give back the leases `owner` holds on these events (claimed, not sent)."""
        if event_ids:
            self._rowcount("release_events", {"owner": owner, "ids": list(event_ids)})

    def give_up_events(self, *, now: datetime, limit: int = 1000) -> int:
        """Mark dead up to `limit` pending events whose window has passed; return how many."""
        params = {"now": now, "limit": limit, "scrubbed": SCRUBBED}
        return self._rowcount("give_up_events", params)

    def prune_events(self, *, before: datetime, limit: int = 1000) -> int:
        """Remove up to `limit` delivered or dead events written before `before`."""
        return self._rowcount("prune_events", {"before": before, "limit": limit})

    def list_events(
        self, *, after: int, types: Sequence[str] = (), limit: int = 500
    ) -> list[StoredEvent]:
        """A page of published events after position `after`, of these types (none: all)."""
        params = {"after": after, "all_types": not types, "types": list(types), "limit": limit}
        return [_event(r) for r in self._run("list_events", params)]

    def replay_events(
        self, *, after: int, types: Sequence[str], now: datetime, give_up_at: datetime
    ) -> int:
        """Make the done events after `after` pending again; return how many."""
        params = {
            "after": after,
            "all_types": not types,
            "types": list(types),
            "now": now,
            "give_up_at": give_up_at,
        }
        return self._rowcount("replay_events", params)

    def unreplayable_events(self, *, after: int, types: Sequence[str]) -> int:
        """How many done events after `after` replay_events leaves alone (an erased user's)."""
        params = {"after": after, "all_types": not types, "types": list(types)}
        return int(self._run("unreplayable_events", params)[0]["n"])

    def event_counts(self) -> EventCounts:
        """How many events wait for delivery, and how many died."""
        (row,) = self._run("event_counts", {})
        return EventCounts(pending=int(row["pending"]), dead=int(row["dead"]))

    def dead_events(self, limit: int) -> list[StoredEvent]:
        """The latest events that died undelivered."""
        return [_event(r) for r in self._run("dead_events", {"limit": limit})]

    def endpoint(self, url_key: str) -> Endpoint | None:
        """What is known of the webhook endpoint of this URL key."""
        rows = self._run("get_endpoint", {"url_key": url_key})
        return Endpoint(**rows[0]) if rows else None

    def note_endpoint(self, note: Endpoint) -> None:
        """Record what an attempt taught of the endpoint: the times given are set, a disabling
        stays until enable_endpoint."""
        self._rowcount("note_endpoint", vars(note))

    def enable_endpoint(self, url_key: str) -> bool:
        """Deliver to an endpoint again that answered 410 Gone; whether it was known."""
        return self._rowcount("enable_endpoint", {"url_key": url_key}) == 1


def _event(row: Row) -> StoredEvent:
    return StoredEvent(**row)

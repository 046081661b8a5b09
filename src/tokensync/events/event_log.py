"""`events list` and `events replay`: the events for an application that would rather pull, and
sending again what was delivered (or died) after a position."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tokensync.errors import ConfigError, UsageError
from tokensync.events.delivery import DeliveryReport, deliver
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.store import Store
from tokensync.store.models import EVENT_TYPES, StoredEvent
from tokensync.store.outbox import DELIVERY_WINDOW

_PAGE = 500


def check_types(types: Sequence[str]) -> tuple[str, ...]:
    """--type values: each one of the event types."""
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise UsageError(
            f"unknown event type(s): {', '.join(unknown)} (types: {', '.join(EVENT_TYPES)})"
        )
    return tuple(dict.fromkeys(types))


def published_events(store: Store, *, after: int, types: Sequence[str]) -> Iterator[StoredEvent]:
    """The events after position `after`, of these types (none: all), in order, read a page at
    a time; what was committed before the call is published first (here, not on the first
    read), so that none is stepped over."""
    store.publish_events()
    return _pages(store, after, types)


def _pages(store: Store, after: int, types: Sequence[str]) -> Iterator[StoredEvent]:
    while True:
        page = store.list_events(after=after, types=types, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq or after


@dataclass(frozen=True)
class Replay:
    """How many events a replay queued again, and the delivery pass that followed."""

    replayed: int
    report: DeliveryReport
    # Done events not queued again: they named a user erased since (user.erased too).
    not_replayed: int = 0

    @property
    def exit_code(self) -> int:
        """1 when a delivery failed (Concluded)."""
        return self.report.exit_code


async def replay(
    deps: Deps, stop: StopSignal, *, after: int, types: Sequence[str], budget: float | None
) -> Replay:
    """Queue again the delivered and dead events after `after` (with a new delivery window,
    their ids unchanged, so a receiver that saw one already can tell), then deliver. Events
    naming a user erased since (user.erased among them) hold no user id any more, and are
    counted in `not_replayed`, not sent."""
    if deps.settings.webhook_url is None:
        raise ConfigError("events replay sends to webhook_url, and none is configured")
    db, now = deps.db, deps.clock.now()
    await db.call(db.store.publish_events)
    left = await db.call(db.store.unreplayable_events, after=after, types=types)
    replayed = await db.call(
        db.store.replay_events, after=after, types=types, now=now, give_up_at=now + DELIVERY_WINDOW
    )
    report = await deliver(deps, budget=budget, stop=stop, report=deps.progress)
    return Replay(replayed, report, not_replayed=left)

"""Delivering events to `webhook_url`: at the end of each job run (for at most `deliver_within`,
never past --max-duration) and by `tokensync events deliver`.

A pass publishes what was committed, gives up what outlived its window, removes what outlived
`event_retention`, then, unless the endpoint is disabled (it answered 410) or paused (429), leases
the oldest due event of a few users at a time, sends each, records how it went, and goes on until
nothing is due, the time is up, a stop is asked, or the endpoint seems down (failures only, three
in a row). A user's next event is sent only once the one before it is delivered or dead: at least
once, in order per user (so per connection). A failed attempt is retried after an exponential
back-off with jitter; a 429 pauses the endpoint for its Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tokensync.errors import exit_code_of
from tokensync.events.webhook import Answer, Verdict, host_of, scrubbed, send, signed, url_key
from tokensync.runtime.backoff import backoff
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.store.models import Endpoint, StoredEvent

# Users served at once: each user's events go one at a time, in order.
IN_FLIGHT = 8
# Failed attempts in a row (nothing delivered between them) after which a pass stops: the
# endpoint is down, and every further attempt would only wait for its timeout.
_FAILURES_IN_A_ROW = 3
# A pass does not start a request with less time than this left.
_MIN_REQUEST = 1.0
# Waited on a 429 that says nothing of how long.
_DEFAULT_PAUSE = 60.0
_BATCH = 1000


@dataclass(frozen=True)
class Attempt:
    """One attempt to deliver an event, for -v logging: ids and outcome, never a user id."""

    event: StoredEvent
    verdict: Verdict

    @property
    def success(self) -> bool:
        """Delivered."""
        return self.verdict.answer is Answer.DELIVERED

    def log_fields(self) -> dict[str, object]:
        """The event's id, position, type and connection, and how the attempt went."""
        fields: dict[str, object] = {
            "eventId": self.event.event_id,
            "seq": self.event.seq,
            "type": self.event.type,
            "connectionId": self.event.connection_id,
            "outcome": self.verdict.answer.value,
        }
        if self.verdict.error:
            fields["error"] = self.verdict.error
        return fields


@dataclass
class DeliveryReport:
    """What a pass did, and the outbox and endpoint as it left them."""

    configured: bool  # a webhook_url is set
    delivered: int = 0
    failed: int = 0  # attempts that failed (each is retried later)
    gave_up: int = 0  # events that became dead in this pass
    pending: int = 0
    dead: int = 0
    endpoint: Endpoint | None = None
    stopped: str | None = None  # why sending ended before nothing was due
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def disabled(self) -> bool:
        """The endpoint answered 410 Gone and has not been enabled again."""
        return self.endpoint is not None and self.endpoint.disabled_at is not None

    @property
    def success(self) -> bool:
        """No attempt failed, and the endpoint takes deliveries."""
        return self.failed == 0 and not self.disabled

    @property
    def endpoint_failed(self) -> bool:
        """What fails the job run that delivered, whatever --fail-on: the endpoint is disabled,
        it failed every attempt until the pass gave up on it, or an event died in this pass.
        A failed attempt alone is retried by a later run."""
        failed = self.disabled or self.stopped == "endpoint_failing" or self.gave_up > 0
        # With no webhook_url, events are only listed (events list), and die unsent in time.
        return self.configured and failed

    @property
    def exit_code(self) -> int:
        """1 when something failed (Concluded)."""
        return exit_code_of(self.success)


async def deliver(
    deps: Deps,
    *,
    budget: float | None,
    stop: StopSignal | None = None,
    reenable: bool = False,
    report: Callable[[Attempt], None] | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """One pass; `budget` bounds its sending in seconds (None: until nothing is due)."""
    db, settings, clock = deps.db, deps.settings, deps.clock
    started = clock.monotonic()
    await db.call(db.store.publish_events)
    result = DeliveryReport(configured=settings.webhook_url is not None)
    result.gave_up = await _housekeeping(deps)
    url = settings.webhook_url
    if url is not None:
        key = url_key(url)
        if reenable:
            await db.call(db.store.enable_endpoint, key)
        sender = _Sender(deps, url, key, rng or random.Random(), report or _ignore)
        result.stopped = await sender.run(started, budget, stop)
        result.delivered, result.failed = sender.delivered, sender.failed
        result.attempts = sender.attempts
        result.endpoint = await db.call(db.store.endpoint, key)
    counts = await db.call(db.store.event_counts)
    result.pending, result.dead = counts.pending, counts.dead
    return result


def _ignore(attempt: Attempt) -> None:
    """The report of a pass nobody watches attempt by attempt."""


async def _housekeeping(deps: Deps) -> int:
    """Give up the events past their window (a user.erased one lets go of its user id then,
    delivered or not) and remove those past event_retention; how many were given up."""
    db, now = deps.db, deps.clock.now()
    gave_up = 0
    while (found := await db.call(db.store.give_up_events, now=now, limit=_BATCH)) > 0:
        gave_up += found
        if found < _BATCH:
            break
    before = now - timedelta(seconds=deps.settings.event_retention)
    while await db.call(db.store.prune_events, before=before, limit=_BATCH) == _BATCH:
        pass
    return gave_up


class _Sender:
    """The sending part of a pass, against one endpoint."""

    def __init__(
        self,
        deps: Deps,
        url: str,
        key: str,
        rng: random.Random,
        report: Callable[[Attempt], None],
    ) -> None:
        self._deps, self._db, self._clock = deps, deps.db, deps.clock
        self._url, self._note = url, Endpoint(url_key=key, host=host_of(url))
        self._rng, self._report = rng, report
        self.delivered = self.failed = 0
        self.attempts: list[Attempt] = []

    async def run(
        self, started: float, budget: float | None, stop: StopSignal | None
    ) -> str | None:
        """Send until nothing is due; return why it ended earlier, if it did."""
        known = await self._db.call(self._db.store.endpoint, self._note.url_key)
        now = self._clock.now()
        if known is not None and known.disabled_at is not None:
            return "disabled"
        if known is not None and known.resumes_at is not None and known.resumes_at > now:
            return "paused"
        in_a_row = 0
        while True:
            if stop is not None and stop.is_set:
                return "stopped"
            left = None if budget is None else budget - (self._clock.monotonic() - started)
            if left is not None and left < _MIN_REQUEST:
                return "time"
            heads = await self._claim()
            if not heads:
                return None
            timeout = self._deps.settings.webhook_timeout
            if left is not None:
                timeout = min(timeout, left)
            verdicts = await asyncio.gather(*(self._attempt(e, timeout) for e in heads))
            answers = {v.answer for v in verdicts}
            if Answer.GONE in answers:
                return "disabled"
            if Answer.RATE_LIMITED in answers:
                return "rate_limited"
            in_a_row = 0 if Answer.DELIVERED in answers else in_a_row + len(verdicts)
            if in_a_row >= _FAILURES_IN_A_ROW:
                return "endpoint_failing"

    async def _claim(self) -> list[StoredEvent]:
        now = self._clock.now()
        lease = timedelta(seconds=self._deps.settings.lease_seconds)
        return await self._db.call(
            self._db.store.claim_event_heads,
            self._deps.owner,
            now=now,
            lease_until=now + lease,
            limit=IN_FLIGHT,
        )

    async def _attempt(self, event: StoredEvent, timeout: float) -> Verdict:
        settings = self._deps.settings
        sent = scrubbed(event, self._deps.secrets)
        request = signed(sent, settings.webhook_secrets, self._clock.now())
        try:
            verdict = await send(self._deps.http, self._url, request, timeout=timeout)
        except BaseException:
            # Cancelled (the process is stopping): the lease lapses, and the event is sent again.
            with contextlib.suppress(Exception):
                await self._db.call(self._db.store.release_events, [event.id], self._deps.owner)
            raise
        await self._record(event, verdict)
        self.attempts.append(Attempt(event, verdict))
        self._report(self.attempts[-1])
        return verdict

    async def _record(self, event: StoredEvent, verdict: Verdict) -> None:
        db, owner, now = self._db, self._deps.owner, self._clock.now()
        if verdict.answer is Answer.DELIVERED:
            self.delivered += 1
            await db.call(db.store.event_delivered, event.id, owner, now=now)
            await db.call(db.store.note_endpoint, replace(self._note, last_success_at=now))
            return
        self.failed += verdict.answer is not Answer.RATE_LIMITED
        note = replace(self._note, last_failure_at=now, last_error=verdict.error)
        if verdict.answer is Answer.GONE:
            retry_at, note = now, replace(note, disabled_at=now)
        elif verdict.answer is Answer.RATE_LIMITED:
            wait = verdict.retry_after if verdict.retry_after is not None else _DEFAULT_PAUSE
            retry_at = now + timedelta(seconds=wait)
            note = replace(note, resumes_at=retry_at)
        else:
            retry_at = self._retry_at(event, now)
        await db.call(
            db.store.event_failed,
            event.id,
            owner,
            error=verdict.error or verdict.answer.value,
            next_attempt_at=retry_at,
            now=now,
        )
        await db.call(db.store.note_endpoint, note)

    def _retry_at(self, event: StoredEvent, now: datetime) -> datetime:
        settings = self._deps.settings
        wait = backoff(event.attempts + 1, settings.backoff_base, settings.backoff_max, self._rng)
        return now + timedelta(seconds=wait)

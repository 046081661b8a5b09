"""The documents of lifecycle events: what a job run's end did with them, `events deliver` and
`events replay`, a line of `events list`, and the outbox and webhook as `status` shows them."""

from __future__ import annotations

from tokensync.connections.status import StatusReport
from tokensync.events.delivery import DeliveryReport
from tokensync.jobs.results import JobResult
from tokensync.output.stdout import Document
from tokensync.store.models import Endpoint, StoredEvent
from tokensync.times import iso


def run_events(result: JobResult) -> Document:
    """What a job run's end did with events: announced, delivered, left pending."""
    doc: Document = {}
    if result.notices is not None:
        doc["announced"] = {
            "failing": result.notices.failing,
            "expiring": result.notices.expiring,
        }
    if result.deliveries is not None:
        doc.update(delivery_counts(result.deliveries))
    return doc


def delivery_counts(report: DeliveryReport) -> Document:
    """A delivery pass: what it delivered, what failed (to be retried), what it gave up, the
    outbox it left, and the endpoint's state."""
    doc: Document = {
        "delivered": report.delivered,
        "failed": report.failed,
        "gaveUp": report.gave_up,
        "pending": report.pending,
        "dead": report.dead,
        "webhook": webhook_document(report.endpoint) if report.configured else None,
    }
    if report.stopped:
        doc["stopped"] = report.stopped
    return doc


def webhook_document(endpoint: Endpoint | None) -> Document:
    """The webhook endpoint as status and deliveries show it: its host, whether it takes
    deliveries, and how they last went."""
    if endpoint is None:
        return {"state": "unused"}
    state = "ok"
    if endpoint.disabled_at is not None:
        state = "disabled"
    elif endpoint.last_failure_at is not None and (
        endpoint.last_success_at is None or endpoint.last_failure_at > endpoint.last_success_at
    ):
        state = "failing"
    return {
        "host": endpoint.host,
        "state": state,
        "disabledAt": iso(endpoint.disabled_at),
        "resumesAt": iso(endpoint.resumes_at),
        "lastSuccessAt": iso(endpoint.last_success_at),
        "lastFailureAt": iso(endpoint.last_failure_at),
        "lastError": endpoint.last_error,
    }


def event_document(event: StoredEvent) -> Document:
    """An event as `events list` prints it (one line each): the body the webhook carries, its
    position and id, and its delivery."""
    delivery: Document = {
        "status": event.status,
        "attempts": event.attempts,
        "lastAttemptAt": iso(event.last_attempt_at),
        "lastError": event.last_error,
        "deliveredAt": iso(event.delivered_at),
    }
    if event.status == "pending":
        delivery["nextAttemptAt"] = iso(event.next_attempt_at)
    return {
        "seq": event.seq,
        "id": event.event_id,
        "type": event.type,
        "timestamp": iso(event.created_at),
        "data": event.data,
        "delivery": delivery,
    }


def deliver_document(
    report: DeliveryReport, *, replayed: int | None = None, not_replayed: int = 0
) -> Document:
    """What `events deliver` (and `events replay`, with how many it queued again and how many
    it could not: events of users erased since) prints."""
    doc: Document = {"success": report.success}
    if replayed is not None:
        doc["replayed"] = replayed
        doc["notReplayed"] = not_replayed
    doc.update(delivery_counts(report))
    return doc


def outbox_document(report: StatusReport) -> Document:
    """The outbox as `status` shows it: pending and dead events, the latest dead ones."""
    return {
        "pending": report.events.pending,
        "dead": report.events.dead,
        "latestDead": [
            {
                "seq": e.seq,
                "id": e.event_id,
                "type": e.type,
                "connectionId": e.connection_id,
                "timestamp": iso(e.created_at),
                "attempts": e.attempts,
                "lastError": e.last_error,
            }
            for e in report.dead_events
        ],
    }

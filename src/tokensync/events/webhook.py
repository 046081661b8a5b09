"""An event as a Standard Webhooks request (standardwebhooks.com), and what an answer means.

The body is `{"type", "timestamp", "data"}`. The headers are `webhook-id` (the event's id, the same
on every attempt, for the receiver to deduplicate), `webhook-timestamp` (the attempt's time, in
seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each
secret configured, space-separated, so that a receiver that rotates its secret verifies with
either while both are configured. Signing is the `standardwebhooks` package's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from tokensync import __version__
from tokensync.http import faults, responses
from tokensync.redaction import Secrets, scrub_error
from tokensync.store.models import StoredEvent
from tokensync.times import iso


class Answer(Enum):
    """What a receiver's answer means for the event, and for the endpoint."""

    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # anything else: try again after a back-off
    RATE_LIMITED = "rate_limited"  # 429 (or 503 with Retry-After): the endpoint pauses
    GONE = "gone"  # 410: the endpoint is disabled until configured again


@dataclass(frozen=True)
class Verdict:
    """How one attempt went: its class, an error code when it failed, and how long the
    receiver asked us to wait (Retry-After), if it did."""

    answer: Answer
    error: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class SignedRequest:
    """An attempt's body and headers."""

    body: bytes
    headers: dict[str, str] = field(repr=False)


def body_of(event: StoredEvent) -> bytes:
    """The body the receiver gets (the same on every attempt)."""
    payload = {"type": event.type, "timestamp": iso(event.created_at), "data": event.data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def scrubbed(event: StoredEvent, secrets: Secrets) -> StoredEvent:
    """The event with its error (if any) cleaned again before it is sent: one an older version
    wrote may hold what a provider echoed."""
    if "error" not in event.data:
        return event
    return replace(event, data={**event.data, "error": scrub_error(event.data["error"], secrets)})


def signed(event: StoredEvent, secrets: tuple[str, ...], now: datetime) -> SignedRequest:
    """The request of one attempt, signed at `now` with every secret."""
    body = body_of(event)
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(event.event_id, now, text) for s in secrets)
    headers = {
        "content-type": "application/json",
        "user-agent": f"tokensync/{__version__}",
        "webhook-id": event.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
    return SignedRequest(body, headers)


async def send(
    client: httpx.AsyncClient, url: str, request: SignedRequest, *, timeout: float
) -> Verdict:
    """POST one attempt and classify the answer; never raises for what the receiver does."""
    try:
        # httpx's timeout bounds each read; this bounds the whole exchange. The answer's body is
        # never read: its status says it all, and a receiver that trickles one holds nothing.
        async with (
            asyncio.timeout(timeout),
            client.stream(
                "POST", url, content=request.body, headers=request.headers, timeout=timeout
            ) as response,
        ):
            status, headers = response.status_code, response.headers
    except Exception as exc:
        return Verdict(Answer.RETRY, faults.transport_error(host_of(url), exc).code)
    return classify(status, headers)


def classify(status: int, headers: httpx.Headers) -> Verdict:
    """What a receiver's status (and Retry-After) means."""
    if 200 <= status < 300:
        return Verdict(Answer.DELIVERED)
    if status == 410:
        return Verdict(Answer.GONE, "gone")
    wait = responses.retry_after_seconds(headers.get("retry-after"))
    if status == 429 or (status == 503 and wait is not None):
        return Verdict(Answer.RATE_LIMITED, f"http_{status}", wait)
    return Verdict(Answer.RETRY, f"http_{status}")


def url_key(url: str) -> str:
    """How the store names an endpoint: a hash, since a URL may hold a secret of its own."""
    return hashlib.sha256(url.encode()).hexdigest()


def host_of(url: str) -> str:
    """The host (and port) of a URL, all of it that status and logs show."""
    return urlsplit(url).netloc.rpartition("@")[2]

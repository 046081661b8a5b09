"""A Standard Webhooks receiver on loopback, as an application would run one: every delivery is
verified with the `standardwebhooks` package, deduplicated by its webhook-id, and answered as the
test scripts it (a 500, a 429 with Retry-After, a 410, or a hang).

The receiver reads the time from the test's clock (the package compares `webhook-timestamp` with
its own "now": here the fake clock's, as in production both sides read the real one). It also
serves a token endpoint that says `invalid_grant`, so that a refresh run can kill a grant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, ClassVar

import standardwebhooks.webhooks
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.contract import ContractBroken, validate
from tests.support.support import FakeClock

# A Standard Webhooks secret: whsec_ and the base64 of 24 bytes (a test's own, not a real one).
SECRET = "whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2Rl"
NEW_SECRET = "whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"


@dataclass(frozen=True)
class Reply:
    """One scripted answer; `hang` holds the request (accepted, unanswered) until released."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class Receiver:
    """What the receiver saw: every attempt's id (repeats too), the events it accepted once
    each, in order of arrival, and the requests that failed verification."""

    secret: str = SECRET
    script: list[Reply] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # bodies that webhook-event.json refuses
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        """The accepted events' bodies, once each, in order of arrival."""
        return list(self.accepted.values())

    def of_connection(self, connection_id: int) -> list[str]:
        """The types accepted for one connection, in order."""
        return [e["type"] for e in self.events if e["data"].get("connectionId") == connection_id]

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return web.Response(status=401)
        event_id = request.headers["webhook-id"]
        self.attempts.append(event_id)
        self.broken.extend(broken_body(body))
        reply = self.script.pop(0) if self.script else Reply()
        if reply.hang:
            # Processed, then the sender dies before it hears the answer: the event was seen.
            self.accepted.setdefault(event_id, json.loads(body))
            self.held.set()
            await self.release.wait()
        if 200 <= reply.status < 300:
            self.accepted.setdefault(event_id, json.loads(body))  # dedupe by webhook-id
        return web.Response(status=reply.status, headers=reply.headers)

    async def token(self, request: web.Request) -> web.Response:
        body = {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        return web.json_response(body, status=400)


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    """Listen on 127.0.0.1 (a free port) in the running loop; receiver.url is the hook's URL."""
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    app.router.add_post("/token", receiver.token)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()
    if receiver.broken:  # the test that made tokensync send it fails
        raise ContractBroken("\n".join(receiver.broken))


def broken_body(body: bytes) -> list[str]:
    """What webhook-event.json says is wrong with a delivery's body (nothing: it is valid)."""
    try:
        validate(json.loads(body), "webhook-event.json")
    except ContractBroken as exc:
        return [str(exc)]
    return []


@contextmanager
def verifying_at(clock: FakeClock) -> Iterator[None]:
    """Make the standardwebhooks package's idea of now the fake clock's, while in the block."""

    class ClockDatetime(datetime):
        source: ClassVar[FakeClock] = clock

        @classmethod
        def now(cls, tz: tzinfo | None = None) -> ClockDatetime:  # type: ignore[override]
            moment = cls.source.now()
            return cls.fromtimestamp(moment.timestamp(), tz or moment.tzinfo)

    real = standardwebhooks.webhooks.datetime
    standardwebhooks.webhooks.datetime = ClockDatetime  # type: ignore[misc]
    try:
        yield
    finally:
        standardwebhooks.webhooks.datetime = real  # type: ignore[misc]

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
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


# -- a receiver in a thread, for commands run in process or as processes ----------------------

HOLD = 120.0  # seconds a held request waits: far more than the test needs to kill


@dataclass
class Hooks:
    """The receiver's state: ids of every attempt, events accepted once each, held requests."""

    token_status: int = 400
    hold_next: bool = False
    attempts: list[str] = field(default_factory=list)
    accepted: dict[str, Any] = field(default_factory=dict)
    rejected: int = 0
    broken: list[str] = field(default_factory=list)  # bodies that webhook-event.json refuses
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@contextmanager
def threaded_hooks() -> Iterator[Hooks]:
    """A receiver in a thread of the test's process (so that a command run in process, or as a
    process, reaches it): it verifies each delivery at the real time, as an application does."""
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/token":
                error = {"error": "invalid_grant"} if state.token_status == 400 else {}
                self.answer(state.token_status, json.dumps(error).encode())
                return
            try:
                Webhook(SECRET).verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                state.rejected += 1
                self.answer(401)
                return
            event_id = self.headers["webhook-id"]
            state.attempts.append(event_id)
            state.accepted.setdefault(event_id, json.loads(body))  # dedupe by webhook-id
            state.broken.extend(broken_body(body))
            if state.hold_next:
                state.hold_next = False
                state.held.set()
                state.release.wait(HOLD)
            self.answer(204)

        def answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
    assert not state.broken, "\n".join(state.broken)


def configure(tmp_path: Path, hooks: Hooks, *, webhook: bool) -> dict[str, str]:
    """A config file with the receiver as webhook_url (if `webhook`) and as discord's token_url."""
    config = tmp_path / "events.toml"
    lines = [f'webhook_url = "{hooks.url}/hook"'] if webhook else []
    lines += ["[platforms.discord]", f'token_url = "{hooks.url}/token"']
    config.write_text("\n".join(lines) + "\n")
    return {"TOKENSYNC_CONFIG": str(config), "TOKENSYNC_WEBHOOK_SECRET": SECRET}

"""The other side at its worst, on loopback: a token endpoint and a platform API that echo what
they were sent (form body, Authorization header, bearer token) in every spelling, in their error
code, description, message and HTML; and a monitor and a webhook receiver that keep every body.

`spellings` and `secret_runs` are the test's own account of how a secret may be spelled, written
apart from tokensync's redaction so that a test of it does not share its blind spots.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote_plus, urlencode

from aiohttp import web

RUN = 12  # the length of a run of a secret that must never be seen


def _b64(data: str, *, pad: bool = True, urlsafe: bool = False) -> str:
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


# Every spelling of a secret a server may echo: (name, spell(secret)).
SPELLINGS: list[tuple[str, Callable[[str], str]]] = [
    ("raw", lambda s: s),
    ("percent", lambda s: quote(s, safe="")),
    ("percent-lower", lambda s: _lower_hex(quote(s, safe=""))),
    ("percent-slash-kept", lambda s: quote(s)),
    ("plus-for-space", lambda s: quote_plus(s, safe="")),
    ("form", lambda s: urlencode({"grant_type": "refresh_token", "refresh_token": s})),
    ("json", lambda s: json.dumps(s)),
    ("json-ascii-slashes", lambda s: json.dumps(s).replace("/", "\\/")),
    ("json-unicode", lambda s: "".join(f"\\u{ord(c):04x}" for c in s)),
    ("basic", lambda s: "Basic " + _b64(f"the-client:{quote(s, safe='')}")),
    ("basic-unpadded", lambda s: _b64(f"id:{quote(s, safe='')}", pad=False)),
    ("base64-urlsafe", lambda s: _b64(s, urlsafe=True, pad=False)),
    ("line-broken", lambda s: s[:13] + "\n" + s[13:]),
    ("zero-width", lambda s: s[:5] + "\u200b" + s[5:]),
]


def secret_forms(secret: str) -> set[str]:
    """The secret-bearing part of each spelling (without the context a spelling adds, such as
    `refresh_token=`): what must never be seen, 12 characters of it at a time."""
    forms = {
        secret,
        quote(secret, safe=""),
        _lower_hex(quote(secret, safe="")),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for form in (secret, quote(secret, safe="")):
        for prefix, skip in (("", 0), ("a", 2), ("ab", 3)):  # the 3 alignments of base64
            for urlsafe in (False, True):
                forms.add(_b64(prefix + form, pad=False, urlsafe=urlsafe)[skip:-2])
    return forms


def secret_runs(*secrets: str) -> set[str]:
    """Every run of RUN characters of every form of every secret."""
    return {
        form[i : i + RUN]
        for secret in secrets
        for form in secret_forms(secret)
        for i in range(len(form) - RUN + 1)
    }


def leaks(text: str, runs: set[str]) -> list[str]:
    """The runs of a secret found in `text` (none, when it is clean)."""
    return sorted(run for run in runs if run in text)


def echo(sent: list[str], offset: int) -> str:
    """What a careless server says back: `offset` characters of padding (so that a secret
    straddles any cut), then each value sent in every spelling."""
    parts = [spell(value) for value in sent if value for _, spell in SPELLINGS]
    return "x" * offset + " | ".join(parts)


@dataclass
class Hostile:
    """What the other side saw and kept. The token endpoint answers by the refresh token's
    name: `grant` (invalid_grant, its description an echo), `html` (an HTML page of echoes),
    anything else an OAuth error whose code and description are both echoes."""

    offset: int = 189
    pings: list[bytes] = field(default_factory=list)
    webhooks: list[bytes] = field(default_factory=list)
    token_requests: int = 0
    api_paths: list[str] = field(default_factory=list)
    url: str = ""

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        raw = (await request.read()).decode()
        form = {k: unquote_plus(v) for k, _, v in (p.partition("=") for p in raw.split("&"))}
        header = request.headers.get("Authorization", "")
        basic = header.removeprefix("Basic ")
        pair = base64.b64decode(basic).decode() if basic else ""
        sent = [raw, header, pair, *form.values()]
        said = echo(sent, self.offset)
        refresh = form.get("refresh_token", "")
        if "html" in refresh:
            page = f"<html><body><h1>Bad Request</h1><pre>{said}</pre></body></html>"
            return web.Response(status=400, text=page, content_type="text/html")
        if "grant" in refresh:
            body = {"error": "invalid_grant", "error_description": said}
        else:
            body = {"error": echo(sent, 0)[:4000], "error_description": said}
        return web.json_response(body, status=400)

    async def api(self, request: web.Request) -> web.Response:
        """403 with a JSON message of echoes; an HTML page of them for a path with `repos`."""
        self.api_paths.append(request.path)
        header = request.headers.get("Authorization", "")
        bearer = header.removeprefix("Bearer ")
        said = echo([header, bearer], self.offset)
        if "repos" in request.path:
            page = f"<html><body><p>token {header} has no scope</p><pre>{said}</pre></body></html>"
            return web.Response(status=403, text=page, content_type="text/html")
        body = {"message": f"token {header} has no scope: {said}", "error": said}
        return web.json_response(body, status=403)

    async def ping(self, request: web.Request) -> web.Response:
        self.pings.append(await request.read())
        return web.Response(text="OK")

    async def webhook(self, request: web.Request) -> web.Response:
        self.webhooks.append(await request.read())
        return web.Response(status=204)


@contextmanager
def serving(hostile: Hostile) -> Iterator[Hostile]:
    """Serve on 127.0.0.1 (a free port) from a thread of its own, so that a command run in this
    thread (with a loop of its own) can reach it; hostile.url is its base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/token", hostile.token)
        app.router.add_get("/github/{tail:.*}", hostile.api)
        app.router.add_post("/ping/{tail:.*}", hostile.ping)
        app.router.add_post("/hook", hostile.webhook)
        runner.append(web.AppRunner(app, access_log=None, handle_signals=False))
        await runner[0].setup()
        site = web.TCPSite(runner[0], "127.0.0.1", 0)
        await site.start()
        hostile.url = f"http://127.0.0.1:{runner[0].addresses[0][1]}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    ready.wait(30)
    try:
        yield hostile
    finally:
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()

"""The stand-in server: one aiohttp application on 127.0.0.1, in a loop, a thread or a process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bench.standins import apis
from bench.standins.tokens import (
    CLIENT_ID,
    CLIENT_SECRET,
    Caller,
    Registry,
    Stats,
    client_credentials,
    user_number,
)

HOST = "127.0.0.1"
UNAVAILABLE = "<html><body><h1>503 Service Unavailable</h1></body></html>"


@dataclass(frozen=True)
class Options:
    """How the stand-in behaves; every field is also a CLI flag (--fail-fraction ...)."""

    delay: float = 0.1
    api_delay: float | None = None  # None: the same as delay
    rotate: bool = True
    fail_fraction: float = 0.0
    api_fail_fraction: float = 0.0
    client_id: str | None = CLIENT_ID  # None: accept any client
    client_secret: str | None = CLIENT_SECRET
    expires_in: int = 3600
    scope: str = "identify guilds"
    access_prefix: str | None = None
    items: int = 60
    page_size: int = 50
    seed: int = 0
    port: int = 0


class StandinServer:
    """Token endpoint and platform APIs; `async with StandinServer(delay=0) as server: ...`."""

    def __init__(self, options: Options | None = None, **overrides: Any) -> None:
        self.options = Options(**{**asdict(options or Options()), **overrides})
        self.stats = Stats()
        self.registry = Registry(
            self.stats,
            rotate=self.options.rotate,
            expires_in=self.options.expires_in,
            scope=self.options.scope,
        )
        self._token_rng = random.Random(self.options.seed)
        self._api_rng = random.Random(self.options.seed + 1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def add_grant(self, refresh_token: str) -> None:
        """Seed one grant whose current refresh token is this one."""
        self.registry.add_grant(refresh_token)

    def add_grants(self, refresh_tokens: Iterable[str]) -> int:
        """Seed many grants; return how many exist."""
        return self.registry.add_grants(refresh_tokens)

    def current_refresh_token(self, origin: str) -> str | None:
        """The grant seeded with `origin`: its valid refresh token now, None if revoked."""
        return self.registry.current_refresh_token(origin)

    async def start(self) -> str:
        """Listen on 127.0.0.1 (port 0: any free one); return the URL."""
        self._runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.options.port, backlog=2048)
        await site.start()
        self.url = f"http://{HOST}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        """Close the listener and the connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def inject_failure(self, api: bool = False) -> bool:
        """Whether this request fails on purpose (seeded: the same sequence every run)."""
        rng, fraction = (
            (self._api_rng, self.options.api_fail_fraction)
            if api
            else (self._token_rng, self.options.fail_fraction)
        )
        return fraction > 0 and rng.random() < fraction

    def caller(self, authorization: str) -> Caller | None:
        """Whose Bearer token this is: an issued one, or one with the configured prefix."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        caller = self.registry.caller(token)
        prefix = self.options.access_prefix
        if caller is None and prefix and token.startswith(prefix):
            caller = Caller(user_number(token))
        return caller


def build_app(server: StandinServer) -> web.Application:
    """/token, /stats, /admin/grants and the platform APIs."""
    options, stats, registry = server.options, server.stats, server.registry
    api_delay = options.delay if options.api_delay is None else options.api_delay

    async def token(request: web.Request) -> web.StreamResponse:
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            form = await request.post()
            if options.delay:
                await asyncio.sleep(options.delay)
            if server.inject_failure():
                stats.failures_injected += 1
                return web.Response(status=503, text=UNAVAILABLE, content_type="text/html")
            if options.client_id is not None:
                got = client_credentials(request.headers.get("Authorization", ""), form)
                if got != (options.client_id, options.client_secret):
                    stats.invalid_client += 1
                    return web.json_response({"error": "invalid_client"}, status=401)
            if form.get("grant_type") != "refresh_token":
                return web.json_response({"error": "unsupported_grant_type"}, status=400)
            refresh_token = form.get("refresh_token")
            if not isinstance(refresh_token, str) or not refresh_token:
                return web.json_response({"error": "invalid_request"}, status=400)
            status, body = registry.exchange(refresh_token)
            return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})
        finally:
            stats.in_flight -= 1

    async def get_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(asdict(stats))

    async def post_grants(request: web.Request) -> web.StreamResponse:
        tokens = await request.json()
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            return web.json_response({"error": "expected a JSON list of strings"}, status=400)
        return web.json_response({"grants": registry.add_grants(tokens)})

    async def get_grants(request: web.Request) -> web.StreamResponse:
        return web.json_response(registry.snapshot())

    def api(platform: str, renderer: apis.Renderer) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            stats.api_requests += 1
            stats.api_in_flight += 1
            stats.api_max_in_flight = max(stats.api_max_in_flight, stats.api_in_flight)
            try:
                if api_delay:
                    await asyncio.sleep(api_delay)
                if server.inject_failure(api=True):
                    stats.api_failures_injected += 1
                    return web.Response(status=503, text=UNAVAILABLE, content_type="text/html")
                caller = server.caller(request.headers.get("Authorization", ""))
                if caller is None or caller.expired:
                    stats.api_unauthorized += 1
                    return apis.unauthorized(platform, caller)
                page = apis.render(
                    renderer, platform, request.url, caller.user, options.items, options.page_size
                )
                response = apis.respond(page, request.headers.get("If-None-Match"))
                stats.not_modified += response.status == 304
                return response
            finally:
                stats.api_in_flight -= 1

        return handler

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/admin/grants", post_grants)
    app.router.add_get("/admin/grants", get_grants)
    for platform, path, renderer in apis.ROUTES:
        app.router.add_get(path, api(platform, renderer))
    return app


@contextlib.contextmanager
def run_in_thread(**options: Any) -> Iterator[StandinServer]:
    """A StandinServer on its own event loop in a background thread, for sync code."""
    server = StandinServer(**options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="standins", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


class StandinProcess:
    """A stand-in in a process of its own, driven over HTTP."""

    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.process = process

    def stats(self) -> dict[str, int]:
        """The counters, as /stats serves them."""
        return dict(httpx.get(f"{self.url}/stats", timeout=30).json())

    def add_grants(self, refresh_tokens: Iterable[str]) -> int:
        """Seed grants through POST /admin/grants; return how many exist."""
        response = httpx.post(f"{self.url}/admin/grants", json=list(refresh_tokens), timeout=60)
        response.raise_for_status()
        return int(response.json()["grants"])

    def grants(self) -> dict[str, dict[str, Any]]:
        """Every grant by its seeded token: current refresh token, revoked, refreshes."""
        return dict(httpx.get(f"{self.url}/admin/grants", timeout=60).json())


def cli_args(**options: Any) -> list[str]:
    """The `python -m bench.standins` flags for these options."""
    known = {f.name for f in fields(Options)}
    args: list[str] = []
    for name, value in options.items():
        if name not in known:
            raise TypeError(f"unknown stand-in option {name!r}")
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args += [flag if value else "--no-" + name.replace("_", "-")]
        elif value is None:
            args += ["--no-" + name.replace("_", "-")]
        else:
            args += [flag, str(value)]
    return args


@contextlib.contextmanager
def run_in_process(*, grants: int = 0, **options: Any) -> Iterator[StandinProcess]:
    """`python -m bench.standins` with these options; SIGTERM on the way out."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "bench.standins", *cli_args(**options)]
    if grants:
        command += ["--grants", str(grants)]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.standins exited with {process.wait(timeout=10)}")
        yield StandinProcess(json.loads(line)["url"], process)
    finally:
        process.terminate()
        process.wait(timeout=30)

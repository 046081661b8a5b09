"""A strict OAuth provider and platform APIs on loopback, for tests and benchmarks.

The token endpoint behaves like Discord or a GitHub App: every refresh issues a new, single-use
refresh token, and a spent refresh token that comes back revokes the whole grant. It answers after
a configurable delay (like a distant provider), can fail a share of token requests and, apart, a
share of API requests (each from its own seeded generator: the same seed fails the same requests
every run), and counts what it saw, so a test can prove that no token was ever used twice.

The platform APIs take any `Bearer bench-at-<user>-<n>` token (the benchmark polls with tokens it
never refreshed). GitHub events answer 304 to a matching If-None-Match; GitHub events and repos
come in `per_page`/`page` pages with a Link header, as the real API serves them. A user's GitHub
repos and Google Calendar events can instead change on command (/admin/data, in
tests/support/platform_data.py).

Run it as its own process, so that it never shares a CPU-bound event loop with the client:

    python -m tests.support.provider --port 0 --delay 0.1

prints one JSON line with its URL, then serves until SIGTERM. In a test, `await start(provider)`
serves it in the running loop instead.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web
from yarl import URL

from tests.support import payloads
from tests.support.platform_data import PlatformData

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"
UNAVAILABLE = "<html><body><h1>503 Service Unavailable</h1></body></html>"
GITHUB_PER_PAGE, GITHUB_MAX_PER_PAGE, GITHUB_REPOS = 30, 100, 10
Page = Callable[[web.Request, int], web.Response]  # (request, user) -> the API's answer
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass
class Stats:
    """What the provider saw."""

    requests: int = 0
    refreshes: int = 0
    invalid_grant: int = 0
    invalid_client: int = 0
    reused_tokens: int = 0
    revoked_grants: int = 0
    failures_injected: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    api_requests: int = 0
    api_unauthorized: int = 0
    api_failures_injected: int = 0
    not_modified: int = 0
    revocations: int = 0
    sync_gone: int = 0  # calendar sync tokens answered 410


@dataclass
class Provider:
    """The grants and the rules a strict rotating provider enforces."""

    delay: float = 0.1
    rotate: bool = True
    fail_fraction: float = 0.0
    api_fail_fraction: float = 0.0
    expires_in: int = 3600
    page_size: int = 50
    guilds: int = 5  # Discord guilds a user is in
    seed: int = 7
    stats: Stats = field(default_factory=Stats)
    current: dict[str, int] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)
    revoked: set[int] = field(default_factory=set)
    access: dict[str, int] = field(default_factory=dict)  # access token -> its grant
    issued: int = 0
    data: PlatformData = field(default_factory=PlatformData)  # changes on command

    def __post_init__(self) -> None:
        # Two generators: the token failures do not shift when the API traffic changes.
        self._rng = random.Random(self.seed)
        self._api_rng = random.Random(self.seed + 1)
        # Token requests wait here while a test holds them in flight (/admin/hold).
        self.gate = asyncio.Event()
        self.gate.set()

    def add_grant(self, refresh_token: str) -> None:
        """A grant whose current refresh token is this one."""
        self.current[refresh_token] = len(self.current) + len(self.spent) + 1

    def exchange(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        """One refresh: (status, body)."""
        if refresh_token in self.spent:
            # A spent token came back: a real provider revokes the grant.
            grant = self.spent[refresh_token]
            self.stats.reused_tokens += 1
            if grant not in self.revoked:
                self.revoked.add(grant)
                self.stats.revoked_grants += 1
            return self._invalid_grant()
        grant_id = self.current.get(refresh_token)
        if grant_id is None or grant_id in self.revoked:
            return self._invalid_grant()
        self.issued += 1
        self.stats.refreshes += 1
        access = f"bench-at-{grant_id}-{self.issued}"
        self.access[access] = grant_id
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "identify guilds",
        }
        if self.rotate:
            new = f"bench-rt-{grant_id}-{self.issued}"
            del self.current[refresh_token]
            self.spent[refresh_token] = grant_id
            self.current[new] = grant_id
            body["refresh_token"] = new
        return 200, body

    def revoke(self, token: str) -> None:
        """RFC 7009: end the grant this token (refresh, spent refresh or access) belongs to;
        any other token is ignored (the answer is 200 all the same)."""
        grant = self.current.get(token) or self.spent.get(token) or self.access.get(token)
        if grant is not None:
            self.revoked.add(grant)

    def live(self) -> list[str]:
        """The refresh tokens that would refresh now: the current one of each grant alive."""
        return sorted(t for t, grant in self.current.items() if grant not in self.revoked)

    def _invalid_grant(self) -> tuple[int, dict[str, Any]]:
        self.stats.invalid_grant += 1
        return 400, {"error": "invalid_grant", "error_description": 'Invalid "refresh_token"'}

    def inject_failure(self) -> bool:
        """Whether this token request fails on purpose."""
        if self.fail_fraction and self._rng.random() < self.fail_fraction:
            self.stats.failures_injected += 1
            return True
        return False

    def inject_api_failure(self) -> bool:
        """Whether this API request fails on purpose."""
        if self.api_fail_fraction and self._api_rng.random() < self.api_fail_fraction:
            self.stats.api_failures_injected += 1
            return True
        return False


def _client_ok(request: web.Request, form: Any) -> bool:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            pair = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, secret = pair.partition(":")
        # RFC 6749 2.3.1: each part is form-urlencoded before the Basic encoding.
        return (unquote_plus(client_id), unquote_plus(secret)) == (CLIENT_ID, CLIENT_SECRET)
    return bool(form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET)


def _unavailable() -> web.Response:
    return web.Response(status=503, text=UNAVAILABLE, content_type="text/html")


def github_page(url: URL, total: int) -> tuple[range, str | None]:
    """The indices on the page `url` asks for (per_page, page) and the Link header of the rest."""
    try:
        per_page = min(max(int(url.query.get("per_page", GITHUB_PER_PAGE)), 1), GITHUB_MAX_PER_PAGE)
        page = max(int(url.query.get("page", 1)), 1)
    except ValueError:
        per_page, page = GITHUB_PER_PAGE, 1
    last = max(1, -(-total // per_page))
    rels = [("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)]
    links = [
        f'<{url.update_query(per_page=per_page, page=number)}>; rel="{rel}"'
        for rel, number in rels
        if (page > 1 if rel in ("prev", "first") else page < last)
    ]
    start = (page - 1) * per_page
    return range(start, min(total, start + per_page)), ", ".join(links) or None


def build_app(provider: Provider) -> web.Application:
    """The aiohttp application: /token, /stats, /admin/grants and a few platform APIs."""
    stats = provider.stats

    async def token(request: web.Request) -> web.Response:
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            form = await request.post()
            await asyncio.sleep(provider.delay)
            await provider.gate.wait()
            if provider.inject_failure():
                return _unavailable()
            if not _client_ok(request, form):
                stats.invalid_client += 1
                return web.json_response({"error": "invalid_client"}, status=401)
            if form.get("grant_type") != "refresh_token":
                return web.json_response({"error": "unsupported_grant_type"}, status=400)
            status, body = provider.exchange(str(form.get("refresh_token", "")))
            return web.json_response(body, status=status)
        finally:
            stats.in_flight -= 1

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(asdict(stats))

    async def revoke(request: web.Request) -> web.Response:
        form = await request.post()
        if not _client_ok(request, form):
            stats.invalid_client += 1
            return web.json_response({"error": "invalid_client"}, status=401)
        stats.revocations += 1
        provider.revoke(str(form.get("token", "")))
        return web.json_response({})

    async def hold(request: web.Request) -> web.Response:
        if (await request.json())["hold"]:
            provider.gate.clear()
        else:
            provider.gate.set()
        return web.json_response({"held": not provider.gate.is_set()})

    async def live(request: web.Request) -> web.Response:
        return web.json_response(provider.live())

    async def grants(request: web.Request) -> web.Response:
        for refresh_token in await request.json():
            provider.add_grant(str(refresh_token))
        return web.json_response({"grants": len(provider.current)})

    def user_of(request: web.Request) -> int | None:
        auth = request.headers.get("Authorization", "")
        user = auth.removeprefix("Bearer bench-at-").split("-")[0]
        return int(user) if auth.startswith("Bearer bench-at-") and user.isdigit() else None

    async def api(request: web.Request, build: Page) -> web.Response:
        stats.api_requests += 1
        await asyncio.sleep(provider.delay)
        if provider.inject_api_failure():
            return _unavailable()
        user = user_of(request)
        if user is None:
            stats.api_unauthorized += 1
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        return build(request, user)

    def recently_played(request: web.Request, user: int) -> web.Response:
        plays = [
            (user * 100 + i, f"2026-11-28T{i // 60:02d}:{i % 60:02d}:00.000Z")
            for i in range(provider.page_size)
        ]
        after = str(1764288000000 + user)
        return web.json_response(payloads.spotify_recently_played(plays, after=after))

    def top_tracks(request: web.Request, user: int) -> web.Response:
        numbers = [user * 100 + i for i in range(provider.page_size)]
        return web.json_response(payloads.spotify_top_tracks(numbers))

    def github_user(request: web.Request, user: int) -> web.Response:
        return web.json_response(payloads.github_user(f"user{user}"))

    def github_events(request: web.Request, user: int) -> web.Response:
        # Newest (highest id) first; `page_size` events in all.
        total = provider.page_size
        indices, link = github_page(request.url, total)
        headers = {"X-Poll-Interval": "60", **({"Link": link} if link else {})}
        headers["ETag"] = f'W/"events-{user}-{total}-{indices.start}-{len(indices)}"'
        if request.headers.get("If-None-Match") == headers["ETag"]:
            stats.not_modified += 1
            return web.Response(status=304, headers=headers)
        login = f"user{user}"
        events = [payloads.github_event(user * 1000 + total - 1 - i, login) for i in indices]
        return web.json_response(events, headers=headers)

    def github_repos(request: web.Request, user: int) -> web.Response:
        if provider.data.has(user):
            repos, link = provider.data.repos(request.url, user, github_page)
            return web.json_response(repos, headers={"Link": link} if link else None)
        indices, link = github_page(request.url, GITHUB_REPOS)
        repos = [payloads.github_repo(user * 100 + i, f"user{user}") for i in indices]
        return web.json_response(repos, headers={"Link": link} if link else None)

    def guilds(request: web.Request, user: int) -> web.Response:
        guilds = [payloads.discord_guild(user * 10 + i) for i in range(provider.guilds)]
        return web.json_response(guilds)

    def calendar_events(request: web.Request, user: int) -> web.Response:
        if not provider.data.has(user):
            return web.json_response(payloads.calendar_page([], sync_token="S0"))
        status, body = provider.data.events(request.url, user)
        stats.sync_gone += status == 410
        return web.json_response(body, status=status)

    async def change_data(request: web.Request) -> web.Response:
        provider.data.change(await request.json())
        return web.json_response({"users": len(provider.data.users)})

    def route(build: Page) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return await api(request, build)

        return handler

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/admin/grants", grants)
    app.router.add_post("/admin/hold", hold)
    app.router.add_get("/admin/live", live)
    app.router.add_post("/admin/data", change_data)
    app.router.add_post("/revoke", revoke)
    app.router.add_get("/discord/api/v10/users/@me/guilds", route(guilds))
    app.router.add_get("/spotify/v1/me/player/recently-played", route(recently_played))
    app.router.add_get("/spotify/v1/me/top/tracks", route(top_tracks))
    app.router.add_get("/github/user", route(github_user))
    app.router.add_get("/github/users/{login}/events", route(github_events))
    app.router.add_get("/github/user/repos", route(github_repos))
    app.router.add_get("/calendar/v3/calendars/primary/events", route(calendar_events))
    return app


async def start(provider: Provider, port: int = 0) -> tuple[web.AppRunner, str]:
    """Listen on 127.0.0.1 (port 0: a free one) in the running loop; (runner, URL).

    `await runner.cleanup()` stops it.
    """
    runner = web.AppRunner(build_app(provider), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def serve(provider: Provider, port: int) -> None:
    """Serve on 127.0.0.1 until SIGTERM or SIGINT; print the URL first."""
    runner, url = await start(provider, port)
    sys.stdout.write(json.dumps({"url": url}) + "\n")
    sys.stdout.flush()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """The command line of the stand-in."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--no-rotate", action="store_true")
    parser.add_argument("--fail-fraction", type=float, default=0.0, help="of token requests")
    parser.add_argument("--api-fail-fraction", type=float, default=0.0, help="of API requests")
    parser.add_argument("--seed", type=int, default=7, help="the same seed fails the same requests")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--page-size", type=int, default=50, help="plays, tracks, events a user")
    parser.add_argument("--guilds", type=int, default=5, help="Discord guilds a user is in")
    args = parser.parse_args(argv)
    provider = Provider(
        delay=args.delay,
        rotate=not args.no_rotate,
        fail_fraction=args.fail_fraction,
        api_fail_fraction=args.api_fail_fraction,
        expires_in=args.expires_in,
        page_size=args.page_size,
        guilds=args.guilds,
        seed=args.seed,
    )
    asyncio.run(serve(provider, args.port))


if __name__ == "__main__":
    main()

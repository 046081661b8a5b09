"""The job-level tier: a job called directly, over a mock transport, a SQLite file and a fake clock.

FakeClock makes time pass only when the code under test sleeps (or a test says so): a 429's
Retry-After, a back-off or a wait for another run's lease cost no real time, and what is stored
(expiries, next attempts) is exact. Heartbeats (`after`: the lease keeper) fire when a sleep moves
time past them, and the sleep lets each one finish its work first, as the real clock would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tokensync import bootstrap
from tokensync.crypto import Keyring, binding, generate_key
from tokensync.jobs.deps import Deps
from tokensync.jobs.results import Reportable
from tokensync.settings import Settings, load_settings
from tokensync.store import Connection, Filters, open_store
from tokensync.store.models import NewTokens

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Real seconds after which a job under test counts as hung (it takes a fraction of one).
HANG = 120.0
# How long (real time) a sleep waits for a woken heartbeat to finish its database work.
_SETTLE_LIMIT = 30.0


@dataclass
class _Timer:
    deadline: float
    future: asyncio.Future[None]
    task: asyncio.Task[object] | None


class FakeClock:
    """A Clock on which time moves only by sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self._start = start
        self.elapsed = 0.0
        self.slept: list[float] = []
        self._timers: list[_Timer] = []

    def now(self) -> datetime:
        """The start plus the time slept so far."""
        return self._start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        """The time slept so far."""
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        """Pass `seconds` at once, firing each heartbeat on the way and letting it work."""
        seconds = max(seconds, 0.0)
        self.slept.append(seconds)
        target = self.elapsed + seconds
        while due := [t for t in self._timers if t.deadline <= target]:
            self.elapsed = max(self.elapsed, min(t.deadline for t in due))
            fired = [t for t in self._timers if t.deadline <= self.elapsed]
            for timer in fired:
                self._timers.remove(timer)
                if not timer.future.done():
                    timer.future.set_result(None)
            for timer in fired:
                await self._settled(timer.task)
        self.elapsed = target
        await asyncio.sleep(0)

    async def after(self, seconds: float) -> None:
        """Return once a sleep has moved time `seconds` past now."""
        future = asyncio.get_running_loop().create_future()
        self._timers.append(
            _Timer(self.elapsed + max(seconds, 0.0), future, asyncio.current_task())
        )
        try:
            await future
        finally:
            self._timers = [t for t in self._timers if t.future is not future]

    async def _settled(self, task: asyncio.Task[object] | None) -> None:
        """Wait (in real time) until a woken task ends or waits on this clock again."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _SETTLE_LIMIT
        while task is not None and not task.done() and loop.time() < give_up:
            if any(t.task is task for t in self._timers):
                return
            await asyncio.sleep(0.001)


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@dataclass
class Job:
    """What a job-level test works with: the settings, the clock, the key, the database."""

    settings: Settings
    clock: FakeClock
    key: str
    url: str
    seen: list[Reportable] = field(default_factory=list)
    runs: int = 0

    @contextlib.asynccontextmanager
    async def deps(self, handler: Handler) -> AsyncIterator[Deps]:
        """The collaborators of one run (run-1, run-2, ...), built by bootstrap with the mock
        transport and the fake clock."""
        self.runs += 1
        async with bootstrap.job_deps(
            self.settings,
            owner=f"run-{self.runs}",
            concurrency=self.settings.concurrency,
            keyring=Keyring([self.key]),
            progress=self.seen.append,
            clock=self.clock,
            transport=httpx.MockTransport(handler),
        ) as deps:
            yield deps

    def add(
        self, user: str, platform: str, *, expires_in: float = 60, refresh: bool = True
    ) -> None:
        """A connection whose tokens are AT-<platform>-<user> and RT-<platform>-<user>."""
        ring = Keyring([self.key])
        store = open_store(self.url)
        try:
            row = NewTokens(
                user_id=user,
                platform=platform,
                access_token_enc=ring.encrypt(
                    f"AT-{platform}-{user}", binding(user, platform, "access")
                ),
                refresh_token_enc=(
                    ring.encrypt(f"RT-{platform}-{user}", binding(user, platform, "refresh"))
                    if refresh
                    else None
                ),
                token_type="Bearer",
                scope=None,
                expires_at=self.clock.now() + timedelta(seconds=expires_in),
            )
            store.upsert_connections([row], self.clock.now())
        finally:
            store.close()

    def connection(self, user: str, platform: str) -> Connection:
        """The stored row of one connection."""
        store = open_store(self.url)
        try:
            (conn,) = store.iter_connections(Filters(platforms=(platform,), users=(user,)))
            return conn
        finally:
            store.close()

    def tokens(self, user: str, platform: str) -> tuple[str, str | None]:
        """The decrypted (access, refresh) tokens stored for a connection."""
        conn, ring = self.connection(user, platform), Keyring([self.key])
        access = ring.decrypt(conn.access_token_enc, binding(user, platform, "access"), "test")
        refresh = (
            ring.decrypt(conn.refresh_token_enc, binding(user, platform, "refresh"), "test")
            if conn.refresh_token_enc
            else None
        )
        return access, refresh


def make_job(tmp_path: Path, config: str = "", env: Mapping[str, str] | None = None) -> Job:
    """A migrated SQLite file, settings for it (credentials for every platform), a fake clock."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config_path = tmp_path / "tokensync.toml"
    config_path.write_text(config)
    environ = {
        "TOKENSYNC_DATA_DIR": str(tmp_path / "data"),
        "TOKENSYNC_DATABASE_URL": url,
        "TOKENSYNC_CONFIG": str(config_path),
        **{
            f"TOKENSYNC_{name}_{half}": f"{name.lower()}-{half.lower()}"
            for name in ("SPOTIFY", "GOOGLE", "GITHUB", "DISCORD")
            for half in ("CLIENT_ID", "CLIENT_SECRET")
        },
        **(env or {}),
    }
    clock = FakeClock()
    store = open_store(url)
    store.migrate(clock.now())
    store.close()
    return Job(load_settings(environ), clock, generate_key(), url)


def token_response(
    access: str, refresh: str | None = None, expires_in: int = 3600, status: int = 200
) -> httpx.Response:
    """A token endpoint's success, as the platforms send it."""
    body: dict[str, object] = {"access_token": access, "token_type": "Bearer"}
    if refresh is not None:
        body["refresh_token"] = refresh
    if expires_in:
        body["expires_in"] = expires_in
    return httpx.Response(status, content=json.dumps(body), headers=_JSON)


def json_response(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """A JSON answer."""
    return httpx.Response(status, content=json.dumps(body), headers={**_JSON, **(headers or {})})


_JSON = {"Content-Type": "application/json"}

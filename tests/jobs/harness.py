"""The job-level tier: a job called directly, over a mock transport, a SQLite file and a fake
clock (tests.support.support.FakeClock): what is stored (expiries, next attempts) is exact, and
waits cost no real time."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from tests.support.support import FakeClock, connection, tokens
from tokensync import bootstrap
from tokensync.crypto import Keyring, binding, generate_key
from tokensync.runtime.deps import Deps
from tokensync.runtime.reportable import Reportable
from tokensync.settings import Settings, load_settings
from tokensync.store import Connection, Store, open_store
from tokensync.store.models import NewTokens

# Real seconds after which a job under test counts as hung (it takes a fraction of one).
HANG = 120.0


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
        return connection(self.url, user, platform)

    def tokens(self, user: str, platform: str) -> tuple[str, str | None]:
        """The decrypted (access, refresh) tokens stored for a connection."""
        return tokens(self.url, self.key, user, platform)


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


class TimedClock(FakeClock):
    """A fake clock that does something once `at` seconds have passed on it."""

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        super().__init__()
        self._at, self._action = at, action
        self.done = False

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if not self.done and self.elapsed >= self._at:
            self.done = True
            self._action()


# The stores of the other processes a test stands in for: open (so their owners live) until the
# test process ends.
_OTHER_PROCESSES: list[Store] = []


def hold_lease(job: Job, owner: str, minutes: float = 5) -> int:
    """Another live process (`owner`) takes the token lease of u1's discord connection and sends
    its refresh token (the check before sending marks the row sent)."""
    conn = job.connection("u1", "discord")
    store = open_store(job.url)
    _OTHER_PROCESSES.append(store)
    store.hold_lease_owner(owner)
    now = job.clock.now()
    until = now + timedelta(minutes=minutes)
    leased = store.claim_one(conn.id, owner, now=now, lease_until=until)
    assert leased is not None and leased.refresh_token_enc is not None
    assert store.confirm_lease(
        conn.id,
        owner,
        refresh_token_enc=leased.refresh_token_enc,
        grant_generation=leased.grant_generation,
        now=now,
        lease_until=until,
    )
    return conn.id


def store_refreshed(job: Job, owner: str, access: str, refresh: str) -> None:
    """That process stores what its refresh was issued, ending its lease."""
    ring, conn = Keyring([job.key]), job.connection("u1", "discord")
    store = open_store(job.url)
    try:
        assert store.save_refreshed(
            conn.id,
            owner,
            access_token_enc=ring.encrypt(access, binding("u1", "discord", "access")),
            refresh_token_enc=ring.encrypt(refresh, binding("u1", "discord", "refresh")),
            previous_refresh_enc=conn.refresh_token_enc,
            expires_at=job.clock.now() + timedelta(days=7),
            now=job.clock.now(),
            grant_generation=1,
        )
    finally:
        store.close()

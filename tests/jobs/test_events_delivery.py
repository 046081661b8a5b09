"""Lifecycle events delivered to a real receiver on loopback, on both engines: each verified with
the standardwebhooks package and accepted once by id; in order per connection through failures;
a 429's Retry-After honoured; a 410 disabling the endpoint until re-enabled; a secret rotation;
and never a token in a body. Jobs are called directly, on a fake clock (back-offs cost nothing)
and a real HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from tests.jobs.harness import HANG, Job
from tests.support.support import CLIENT_ENV, FakeClock
from tests.support.webhook_receiver import (
    NEW_SECRET,
    SECRET,
    Receiver,
    Reply,
    serving,
    verifying_at,
)
from tokensync import bootstrap
from tokensync.connections.erase import erase_user
from tokensync.connections.status import read_status
from tokensync.crypto import Keyring, binding, generate_key
from tokensync.events.delivery import DeliveryReport, deliver
from tokensync.events.event_log import replay
from tokensync.jobs.options import RefreshOptions
from tokensync.jobs.refresh_tokens import run_refresh
from tokensync.jobs.results import RefreshResult
from tokensync.runtime.deps import Deps
from tokensync.runtime.stop import StopSignal
from tokensync.settings import Settings, load_settings
from tokensync.store import Filters, open_store
from tokensync.store.models import NewTokens

T = TypeVar("T")
OPTIONS = RefreshOptions(concurrency=8, window=600)


@dataclass
class World:
    """The database under test, a fake clock, the receiver, and settings that point at it."""

    db_url: str
    tmp_path: Path
    receiver: Receiver
    clock: FakeClock = field(default_factory=FakeClock)
    key: str = field(default_factory=generate_key)
    runs: int = 0
    config: str = ""  # more top-level settings

    def settings(self, secrets: str = SECRET, url: str | None = None) -> Settings:
        base = self.receiver.url.rsplit("/", 1)[0]
        config = self.tmp_path / "tokensync.toml"
        config.write_text(
            f'webhook_url = "{url or self.receiver.url}"\n{self.config}'
            f'[platforms.discord]\ntoken_url = "{base}/token"\n'
        )
        return load_settings(
            {
                "TOKENSYNC_DATA_DIR": str(self.tmp_path / "data"),
                "TOKENSYNC_DATABASE_URL": self.db_url,
                "TOKENSYNC_CONFIG": str(config),
                "TOKENSYNC_WEBHOOK_SECRET": secrets,
                **CLIENT_ENV,
            }
        )

    @property
    def job(self) -> Job:
        """The harness's helpers (add, connection, tokens) over this database."""
        return Job(self.settings(), self.clock, self.key, self.db_url)

    @contextlib.asynccontextmanager
    async def deps(self, settings: Settings | None = None) -> AsyncIterator[Deps]:
        self.runs += 1
        async with bootstrap.job_deps(
            settings or self.settings(),
            owner=f"run-{self.runs}",
            concurrency=8,
            keyring=Keyring([self.key]),
            progress=lambda item: None,
            clock=self.clock,
        ) as deps:
            yield deps

    async def refresh(self) -> RefreshResult:
        """A refresh-tokens run (events announced and delivered at its end)."""
        async with self.deps() as deps:
            return await asyncio.wait_for(run_refresh(deps, OPTIONS), HANG)

    async def deliver(
        self, settings: Settings | None = None, *, reenable: bool = False
    ) -> DeliveryReport:
        """An `events deliver` pass."""
        async with self.deps(settings) as deps:
            return await asyncio.wait_for(deliver(deps, budget=None, reenable=reenable), HANG)

    def reimport(self, user: str) -> None:
        """The user connects discord again (a new grant)."""
        ring = Keyring([self.key])
        row = NewTokens(
            user_id=user,
            platform="discord",
            access_token_enc=ring.encrypt(f"AT-new-{user}", binding(user, "discord", "access")),
            refresh_token_enc=ring.encrypt(f"RT-new-{user}", binding(user, "discord", "refresh")),
            token_type="Bearer",
            scope=None,
            expires_at=self.clock.now() + timedelta(days=7),
        )
        store = open_store(self.db_url)
        try:
            store.upsert_connections([row], self.clock.now())
        finally:
            store.close()

    def assert_no_token(self) -> None:
        """No body the receiver got holds a token, plain or encrypted."""
        store = open_store(self.db_url)
        try:
            rows = list(store.iter_connections(Filters()))
        finally:
            store.close()
        secrets = [b"AT-", b"RT-"]
        for conn in rows:
            secrets += [conn.access_token_enc.encode()]
            if conn.refresh_token_enc:
                secrets.append(conn.refresh_token_enc.encode())
        assert self.receiver.bodies
        for body in self.receiver.bodies:
            for secret in secrets:
                assert secret not in body


def scenario(
    db_url: str,
    tmp_path: Path,
    story: Callable[[World], Awaitable[T]],
    *,
    settings_extra: str = "",
) -> T:
    """Run `story` with a receiver serving and verifying at the fake clock's time."""

    async def run() -> T:
        async with serving(Receiver()) as receiver:
            world = World(db_url, tmp_path, receiver, config=settings_extra)
            with verifying_at(world.clock):
                return await story(world)

    return asyncio.run(run())


def test_a_dead_grant_is_delivered_at_the_end_of_its_run_verified_and_tokenless(
    db_url: str, tmp_path: Path
) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        conn_id = world.job.connection("u1", "discord").id
        result = await world.refresh()
        assert result.needs_reauth == 1
        assert result.deliveries is not None and result.deliveries.delivered == 1
        (event,) = world.receiver.events
        assert event["type"] == "connection.needs_reauth"
        assert event["timestamp"] == world.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        assert event["data"] == {
            "connectionId": conn_id,
            "userId": "u1",
            "platform": "discord",
            "error": {"code": "invalid_grant", "message": event["data"]["error"]["message"]},
        }
        assert world.receiver.rejected == []
        # A second run has nothing new to say and sends nothing again.
        again = await world.refresh()
        assert again.deliveries is not None and again.deliveries.delivered == 0
        assert len(world.receiver.attempts) == 1
        world.assert_no_token()

    scenario(db_url, tmp_path, story)


def test_a_failing_receiver_gets_every_event_in_order_per_connection_once_it_recovers(
    db_url: str, tmp_path: Path
) -> None:
    async def story(world: World) -> None:
        for user in ("u1", "u2", "u3"):
            world.job.add(user, "discord")
        ids = {u: world.job.connection(u, "discord").id for u in ("u1", "u2", "u3")}
        world.receiver.script = [Reply(500)] * 3 + [Reply(503)] * 2
        first = await world.refresh()
        assert first.needs_reauth == 3
        assert first.deliveries is not None and first.deliveries.delivered == 0
        assert first.deliveries.failed == 3 and first.deliveries.pending == 3
        assert first.deliveries.stopped == "endpoint_failing"
        assert first.exit_code == 1 and not first.completed, "a failed endpoint is the operator's"
        for user in ("u1", "u2", "u3"):
            world.reimport(user)  # connection.recovered, behind each needs_reauth
        # Before the back-off ends, nothing is sent again.
        assert (await world.deliver()).delivered == 0
        assert len(world.receiver.attempts) == 3
        for _ in range(20):
            await world.clock.sleep(6 * 3600)
            report = await world.deliver()
            if report.pending == 0:
                break
        assert report.pending == 0 and report.dead == 0
        for user, conn_id in ids.items():
            assert world.receiver.of_connection(conn_id) == [
                "connection.needs_reauth",
                "connection.recovered",
            ], user
        assert len(world.receiver.accepted) == 6
        assert len(world.receiver.attempts) == 6 + 5, "each failure retried, each event once"
        assert world.receiver.rejected == []
        world.assert_no_token()

    scenario(db_url, tmp_path, story)


def test_a_429_pauses_the_endpoint_for_its_retry_after(db_url: str, tmp_path: Path) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        world.receiver.script = [Reply(429, {"Retry-After": "120"})]
        result = await world.refresh()
        assert result.deliveries is not None and result.deliveries.stopped == "rate_limited"
        assert result.completed, "a receiver asking to wait is no failure"
        assert result.deliveries.endpoint is not None
        assert result.deliveries.endpoint.resumes_at == world.clock.now() + timedelta(seconds=120)
        await world.clock.sleep(119)
        early = await world.deliver()
        assert early.stopped == "paused" and early.delivered == 0
        assert len(world.receiver.attempts) == 1
        await world.clock.sleep(2)
        late = await world.deliver()
        assert late.delivered == 1 and late.pending == 0
        assert [e["type"] for e in world.receiver.events] == ["connection.needs_reauth"]

    scenario(db_url, tmp_path, story)


def test_a_410_disables_the_endpoint_until_it_is_enabled_again(db_url: str, tmp_path: Path) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        world.receiver.script = [Reply(410)]
        result = await world.refresh()
        assert result.deliveries is not None and result.deliveries.disabled
        assert not result.deliveries.success
        assert result.exit_code == 1 and not result.completed
        await world.clock.sleep(86400)
        later = await world.deliver()
        assert later.stopped == "disabled" and later.pending == 1
        assert len(world.receiver.attempts) == 1, "nothing is sent to a disabled endpoint"
        store = open_store(world.db_url)
        try:
            status = read_status(store, world.settings(), world.clock.now())
        finally:
            store.close()
        assert status.endpoint is not None and status.endpoint.disabled_at is not None
        assert status.events.pending == 1

        enabled = await world.deliver(reenable=True)
        assert enabled.delivered == 1 and not enabled.disabled
        assert [e["type"] for e in world.receiver.events] == ["connection.needs_reauth"]

    scenario(db_url, tmp_path, story)


def test_a_pass_killed_mid_delivery_leaves_the_event_to_the_next_once_by_id(
    db_url: str, tmp_path: Path
) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        async with world.deps() as deps:
            await run_refresh_without_delivery(world, deps)
        world.receiver.script = [Reply(hang=True)]
        async with world.deps() as deps:
            task = asyncio.create_task(deliver(deps, budget=None))
            await asyncio.wait_for(world.receiver.held.wait(), HANG)
            task.cancel()  # the run dies: the receiver processed the event, unanswered
            with contextlib.suppress(asyncio.CancelledError):
                await task
        world.receiver.release.set()
        # The lease of a run that died lapses; the next run sends the event again, same id.
        await world.clock.sleep(world.settings().lease_seconds + 1)
        report = await world.deliver()
        assert report.delivered == 1 and report.pending == 0
        first, second = world.receiver.attempts
        assert first == second, "the same webhook-id on every attempt"
        assert len(world.receiver.accepted) == 1

    scenario(db_url, tmp_path, story)


async def run_refresh_without_delivery(world: World, deps: Deps) -> None:
    """A refresh whose run ends before it delivers anything (deliver_within 0)."""
    quiet = replace(deps, settings=replace(deps.settings, deliver_within=0.0))
    result = await asyncio.wait_for(run_refresh(quiet, OPTIONS), HANG)
    assert result.needs_reauth == 1
    assert result.deliveries is not None and result.deliveries.delivered == 0
    assert world.receiver.attempts == []


def test_while_rotating_every_secret_signs_and_either_verifies(db_url: str, tmp_path: Path) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        world.job.add("u2", "discord")
        rotating = world.settings(secrets=f"{NEW_SECRET},{SECRET}")
        async with world.deps(rotating) as deps:
            await run_refresh_without_delivery_of(deps, "u1")
        assert (await world.deliver(rotating)).delivered == 1  # the receiver knows the old one
        world.receiver.secret = NEW_SECRET  # the receiver moves to the new one
        async with world.deps(rotating) as deps:
            await run_refresh_without_delivery_of(deps, "u2")
        assert (await world.deliver(rotating)).delivered == 1
        assert world.receiver.rejected == []
        # Once only the old secret signs, the receiver that moved on refuses it.
        world.reimport("u1")
        refused = await world.deliver(world.settings(secrets=SECRET))
        assert refused.delivered == 0 and refused.failed == 1
        assert world.receiver.rejected == ["No matching signature found"]

    scenario(db_url, tmp_path, story)


async def run_refresh_without_delivery_of(deps: Deps, user: str) -> None:
    quiet = replace(deps, settings=replace(deps.settings, deliver_within=0.0))
    options = replace(OPTIONS, filters=Filters(users=(user,)))
    result = await asyncio.wait_for(run_refresh(quiet, options), HANG)
    assert result.needs_reauth == 1


def test_replay_sends_again_with_the_same_ids_in_order(db_url: str, tmp_path: Path) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        await world.refresh()
        world.reimport("u1")
        await world.deliver()
        assert len(world.receiver.accepted) == 2
        first_ids = list(world.receiver.accepted)
        async with world.deps() as deps:
            done = await replay(deps, StopSignal(deps.clock, None), after=1, types=(), budget=None)
        assert done.replayed == 1 and done.report.delivered == 1
        assert world.receiver.attempts == [*first_ids, first_ids[1]]

    scenario(db_url, tmp_path, story)


def test_events_dying_unsent_fail_a_run_only_when_a_webhook_is_configured(
    db_url: str, tmp_path: Path
) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        world.receiver.script = [Reply(500)] * 50
        await world.refresh()
        unsent = replace(world.settings(), webhook_url=None)
        await world.clock.sleep(3 * 86400 + 1)
        async with world.deps(unsent) as deps:
            quiet = await deliver(deps, budget=None)
        assert quiet.gave_up == 1 and quiet.dead == 1 and not quiet.endpoint_failed
        world.reimport("u1")
        await world.refresh()  # connection.recovered, which the failing receiver never takes
        await world.clock.sleep(3 * 86400 + 1)
        loud = await world.deliver()
        assert loud.gave_up >= 1 and loud.endpoint_failed

    scenario(db_url, tmp_path, story)


def test_a_hanging_receiver_never_holds_a_run_past_its_max_duration(
    db_url: str, tmp_path: Path
) -> None:
    async def story(world: World) -> None:
        world.job.add("u1", "discord")
        world.job.add("u2", "discord")
        world.receiver.script = [Reply(hang=True), Reply(hang=True)]
        async with world.deps() as deps:
            # 2 s of --max-duration left for delivery (the fake clock stands still), against a
            # webhook_timeout of 60 s: the bound is the run's. The hang guard is far above it.
            options = replace(OPTIONS, max_duration=2.0)
            result = await asyncio.wait_for(run_refresh(deps, options), 30)
        assert result.deliveries is not None
        assert result.deliveries.delivered == 0 and result.deliveries.failed == 2
        assert {a.verdict.error for a in result.deliveries.attempts} == {"timeout"}
        assert result.deliveries.pending == 2, "both wait for the next run"

        async with world.deps() as deps:
            almost = replace(OPTIONS, max_duration=0.5)  # less than a request needs: none sent
            await world.clock.sleep(3600)
            late = await asyncio.wait_for(run_refresh(deps, almost), 30)
        assert late.deliveries is not None and late.deliveries.stopped == "time"
        assert len(world.receiver.attempts) == 2

    scenario(db_url, tmp_path, story, settings_extra='webhook_timeout = "60s"\n')


def test_replay_counts_what_it_cannot_send_again_an_erased_users_events(
    db_url: str, tmp_path: Path
) -> None:
    async def story(world: World) -> None:
        for user in ("u1", "u2"):
            world.job.add(user, "discord")
        await world.refresh()  # a connection.needs_reauth each, delivered
        async with world.deps() as deps:
            stop = StopSignal(deps.clock, None)
            await erase_user(deps, stop, "u1", revoke=False, dry_run=False)
        await world.deliver()  # user.erased, delivered: then it names the user no more
        assert [e["type"] for e in world.receiver.events][-1] == "user.erased"
        sent = len(world.receiver.attempts)
        async with world.deps() as deps:
            done = await replay(deps, StopSignal(deps.clock, None), after=0, types=(), budget=None)
        assert (done.replayed, done.not_replayed) == (1, 1), "u2's event again; not user.erased"
        assert len(world.receiver.attempts) == sent + 1

    scenario(db_url, tmp_path, story)

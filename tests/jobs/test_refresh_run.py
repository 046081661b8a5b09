"""run_refresh called directly: a mock transport, a SQLite file, a fake clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from tests.jobs.harness import HANG, Handler, Job, json_response, make_job, token_response
from tests.support.support import START
from tokensync.jobs.options import RefreshOptions
from tokensync.jobs.refresh_tokens import run_refresh
from tokensync.jobs.results import RefreshResult
from tokensync.refresh.outcome import Refreshed
from tokensync.store import open_store
from tokensync.store.engine import RowWrite

DISCORD_TOKEN_URL = "https://discord.com/api/oauth2/token"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
OPTIONS = RefreshOptions(concurrency=8, window=600)


def form(request: httpx.Request) -> dict[str, str]:
    """A token request's form fields."""
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def refresh(job: Job, handler: Handler, options: RefreshOptions = OPTIONS) -> RefreshResult:
    """One run of the refresh job."""
    async with job.deps(handler) as deps:
        # A bound, so that a job that hangs fails its test instead of holding the suite.
        return await asyncio.wait_for(run_refresh(deps, options), HANG)


def test_a_due_token_is_refreshed_stored_and_recorded(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord", expires_in=60)
    requests: list[httpx.Request] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return token_response("AT-2", "RT-2", expires_in=604800)

    result = asyncio.run(refresh(job, provider))

    assert (result.checked, result.refreshed, result.failed) == (1, 1, 0)
    assert result.success and result.exit_code == 0 and result.duration_ms == 0
    (outcome,) = result.outcomes
    assert outcome.kind is Refreshed.REFRESHED and outcome.rotated is True
    assert outcome.new_expiry == START + timedelta(seconds=604800)
    (request,) = requests
    assert str(request.url) == DISCORD_TOKEN_URL
    assert form(request) == {
        "grant_type": "refresh_token",
        "refresh_token": "RT-discord-u1",
        "client_id": "discord-client_id",
        "client_secret": "discord-client_secret",
    }
    assert job.tokens("u1", "discord") == ("AT-2", "RT-2")
    stored = job.connection("u1", "discord")
    assert stored.expires_at == START + timedelta(seconds=604800)
    assert stored.lease_owner is None and stored.last_refreshed_at == START
    assert [o.success for o in job.seen] == [True], "progress saw the outcome"
    store = open_store(job.url)
    try:
        (run,) = store.last_runs(["refresh-tokens", "poll-platforms"])
    finally:
        store.close()
    assert (run.command, run.run_id, run.success, run.exit_code) == (
        "refresh-tokens",
        "run-1",
        True,
        0,
    )
    assert run.summary == {
        "tokensChecked": 1,
        "tokensRefreshed": 1,
        "tokensFailed": 0,
        "needsReauth": 0,
        "tokensSuperseded": 0,
        "durationMs": 0,
    }


def test_google_keeps_the_refresh_token_it_does_not_rotate(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "youtube")

    async def google(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == GOOGLE_TOKEN_URL
        assert form(request)["client_id"] == "google-client_id", "the shared Google client"
        return token_response("AT-2", expires_in=3599)

    result = asyncio.run(refresh(job, google))

    assert result.outcomes[0].rotated is False
    assert job.tokens("u1", "youtube") == ("AT-2", "RT-youtube-u1")


def test_a_rate_limit_is_waited_out_on_the_clock_not_in_real_time(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord")
    answers = iter(
        [
            json_response(429, {"error": "rate_limited"}, {"Retry-After": "7"}),
            token_response("AT-2", "RT-2", expires_in=3600),
        ]
    )

    async def provider(request: httpx.Request) -> httpx.Response:
        return next(answers)

    result = asyncio.run(refresh(job, provider))

    assert result.refreshed == 1
    assert job.clock.slept == [7.0]
    assert result.outcomes[0].new_expiry == START + timedelta(seconds=7 + 3600)


def test_a_transient_failure_backs_off_from_the_clock(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord")

    async def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="upstream down")

    result = asyncio.run(refresh(job, down))

    assert (result.failed, result.exit_code) == (1, 1)
    (outcome,) = result.outcomes
    assert outcome.error_code == "transient"
    # The first back-off is drawn from the upper half of one minute.
    assert outcome.next_attempt_at is not None
    assert START + timedelta(seconds=30) <= outcome.next_attempt_at <= START + timedelta(minutes=1)
    stored = job.connection("u1", "discord")
    assert (stored.failure_count, stored.next_attempt_at) == (1, outcome.next_attempt_at)
    assert stored.status == "active" and stored.lease_owner is None


def test_a_dead_grant_is_marked_for_reauthorisation(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord")

    async def revoked(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_grant", "error_description": 'Invalid "refresh_token" in request'}
        return json_response(400, body)

    result = asyncio.run(refresh(job, revoked))

    assert (result.failed, result.needs_reauth) == (1, 1)
    assert result.outcomes[0].status == "needs_reauth"
    stored = job.connection("u1", "discord")
    assert (stored.status, stored.last_error_code) == ("needs_reauth", "invalid_grant")


def test_leases_are_renewed_while_a_row_waits_past_its_lease(tmp_path: Path) -> None:
    # A Retry-After of 200 s, waited out (max_wait 300 s), with a lease of 60 s: the lease keeper
    # renews the row every 20 s of (fake) time, so the compare-and-set before the second request
    # still finds this run's lease and the token is sent.
    job = make_job(tmp_path, 'lease = "60s"\nmax_wait = "300s"\n')
    job.add("u1", "discord")
    answers = iter(
        [
            json_response(429, {"retry_after": 200, "global": False}, {"Retry-After": "200"}),
            token_response("AT-2", "RT-2"),
        ]
    )

    async def provider(request: httpx.Request) -> httpx.Response:
        return next(answers)

    result = asyncio.run(refresh(job, provider))

    assert (result.refreshed, result.leases_lost) == (1, 0)
    assert job.clock.elapsed == 200
    assert job.tokens("u1", "discord") == ("AT-2", "RT-2")


class Overlap:
    """A token endpoint that counts its requests in flight: it holds each one until `cap` are
    in flight (or the last has started), so that requests overlap however slowly this machine
    runs, and one more than `cap` would show a broken bound."""

    def __init__(self, cap: int, total: int) -> None:
        self.cap, self.total = cap, total
        self.in_flight = self.most = self.started = 0
        self._full = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight, self.started = self.in_flight + 1, self.started + 1
        self.most = max(self.most, self.in_flight)
        if self.in_flight >= self.cap or self.started == self.total:
            self._full.set()
        await asyncio.wait_for(self._full.wait(), 30)
        await asyncio.sleep(0)
        self.in_flight -= 1
        if self.in_flight == 0:
            self._full.clear()
        user = form(request)["refresh_token"].rsplit("-", 1)[1]
        return token_response(f"AT-{user}-2", f"RT-{user}-2")


def test_a_platform_cap_bounds_the_requests_in_flight(tmp_path: Path) -> None:
    job = make_job(tmp_path, "[platforms.discord]\nconcurrency = 2\n")
    for n in range(6):
        job.add(f"u{n}", "discord")
    provider = Overlap(cap=2, total=6)

    result = asyncio.run(refresh(job, provider))

    assert result.refreshed == 6 and provider.most == 2


def test_the_runs_concurrency_bounds_the_requests_in_flight_across_platforms(
    tmp_path: Path,
) -> None:
    """The run has more workers than --concurrency (a row being stored holds no request), and
    the cap still holds over all platforms together."""
    job = make_job(tmp_path)
    for n in range(4):
        job.add(f"u{n}", "discord")
        job.add(f"u{n}", "spotify")
    provider = Overlap(cap=3, total=8)

    result = asyncio.run(refresh(job, provider, RefreshOptions(concurrency=3, window=600)))

    assert result.refreshed == 8 and provider.most == 3


def test_a_freed_slot_sends_the_next_rows_check_before_the_last_rows_write(
    tmp_path: Path,
) -> None:
    """The rows waiting for a request slot are what holds a run back; a refreshed row's
    encryption and write are not. So when a row gives its slot back, the next row's lease check
    goes to the database before the refreshed row's save (refresher.py, docs/performance.md)."""
    job = make_job(tmp_path)
    for n in range(3):
        job.add(f"u{n}", "discord")
    sent: list[tuple[str, str]] = []

    async def provider(request: httpx.Request) -> httpx.Response:
        user = form(request)["refresh_token"].rsplit("-", 1)[1]
        return token_response(f"AT-{user}-2", f"RT-{user}-2")

    async def run() -> RefreshResult:
        async with job.deps(provider) as deps:
            store = deps.db.store
            write_rows = store.write_rows

            def logged(writes: Sequence[RowWrite]) -> list[bool]:
                sent.extend((w.statement, str(w.params["id"])) for w in writes)
                return write_rows(writes)

            store.write_rows = logged  # type: ignore[method-assign]
            options = RefreshOptions(concurrency=2, window=600)
            return await asyncio.wait_for(run_refresh(deps, options), HANG)

    result = asyncio.run(run())

    assert result.refreshed == 3
    ids = [str(job.connection(f"u{n}", "discord").id) for n in range(3)]
    order = {(statement, row): n for n, (statement, row) in enumerate(sent)}
    assert len(order) == len(sent) == 6, sent
    for earlier, later in itertools.pairwise(ids):
        assert order[("confirm_lease", later)] < order[("save_refreshed", earlier)], sent


def test_max_duration_stops_a_run_that_waited_past_it(tmp_path: Path) -> None:
    job = make_job(tmp_path, 'max_wait = "300s"\n')
    job.add("u1", "discord")

    async def limited(request: httpx.Request) -> httpx.Response:
        return json_response(429, {"error": "rate_limited"}, {"Retry-After": "150"})

    options = RefreshOptions(concurrency=8, window=600, max_duration=100)
    result = asyncio.run(refresh(job, limited, options))

    assert result.stopped == "max_duration"
    assert (result.checked, result.failed) == (0, 0), "nothing was sent after the deadline"
    assert job.connection("u1", "discord").lease_owner is None, "the lease was given back"


def test_a_dry_run_sends_nothing_and_records_nothing(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    job.add("u1", "discord")
    job.add("u2", "spotify", expires_in=3 * 3600)

    async def nobody(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a dry run sent {request.url}")

    result = asyncio.run(
        refresh(job, nobody, RefreshOptions(concurrency=8, window=600, dry_run=True))
    )

    assert result.checked == 1 and [c.user_id for c in result.due] == ["u1"]
    assert job.connection("u1", "discord").lease_owner is None
    store = open_store(job.url)
    try:
        assert store.last_runs(["refresh-tokens"]) == []
    finally:
        store.close()

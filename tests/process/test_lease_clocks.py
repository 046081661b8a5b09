"""No clock decides that two processes may send the same refresh token, and a lost database costs
a short pause, not a lease: real processes against the strict rotating provider.

Workers whose clocks run 10 minutes ahead and 10 minutes behind (libfaketime, Debian's
`faketime`) start while another run has requests in flight; the database server restarts (or
drops every connection) while a run has requests in flight. Every due row is refreshed once,
none twice, nothing is lost, and the rows the failed run claimed but never sent are refreshed by
the next run at once.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support import pg_server
from tests.support.processes import (
    ProviderProcess,
    discord_grants,
    finish,
    running_provider,
    tokensync,
)
from tests.support.support import connection, run_sql, tokens
from tests.support.tcp_proxy import freezable_proxy

FAKETIME = shutil.which("faketime")


def due_grants(provider: ProviderProcess, run_cli, env: dict[str, str], n: int) -> None:  # type: ignore[no-untyped-def]
    """n grants at the provider and in the database (users u0..), expiring in a minute."""
    imported = run_cli("tokens", "import", stdin=discord_grants(provider, n), extra_env=env)
    assert imported.code == 0, imported.out


def renewed_an_hour_ago(db_url: str) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    text = when.isoformat(timespec="microseconds")[:-6] + "Z"
    run_sql(
        db_url, "UPDATE connections SET tokens_updated_at = ?", text if "sqlite" in db_url else when
    )


def assert_each_refreshed_once(provider: ProviderProcess, db_url: str, key: str, n: int) -> None:
    """The provider refreshed each grant once and saw no token twice; every row holds the one
    refresh token alive for its grant (none lost), and no lease is left behind."""
    stats = provider.stats()
    assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0
    assert stats["refreshes"] == n, "every due row refreshed once"
    stored = {tokens(db_url, key, f"u{i}", "discord")[1] for i in range(n)}
    assert stored == provider.live(), "nothing lost"
    assert all(connection(db_url, f"u{i}", "discord").lease_owner is None for i in range(n))


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",  # CI installs it (.ci/run): never skipped
    reason="needs libfaketime (Debian package faketime)",
)
def test_workers_with_clocks_ten_minutes_off_never_send_a_token_twice(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,  # type: ignore[no-untyped-def]
) -> None:
    n = 90
    with running_provider("--delay", "0") as provider:
        config = provider.config(tmp_path / "tokensync.toml", batch_size=10)
        env = {**env, "TOKENSYNC_CONFIG": str(config)}
        due_grants(provider, run_cli, env, n)
        renewed_an_hour_ago(db_url)
        job = ["refresh-tokens", "--concurrency", "4", "--window", "30m", "--results", "none"]
        provider.hold(True)
        try:
            first = tokensync(job, env)
            provider.wait_in_flight(4)
            # The monotonic clock stays the host's: libfaketime moves what the wall clock says.
            skewed = {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
            ahead = tokensync(job, skewed, wrapper=[FAKETIME or "", "-f", "+10m"])
            behind = tokensync(job, skewed, wrapper=[FAKETIME or "", "-f", "-10m"])
            provider.wait_in_flight(12)  # each of the three has its requests in flight
        finally:
            provider.hold(False)
        documents = []
        for run in (first, ahead, behind):
            code, document, err = finish(run)
            assert code == 0, (document, err)
            documents.append(document)

        assert sum(d["tokensRefreshed"] for d in documents) == n
        assert all(d["tokensRefreshed"] > 0 for d in documents), "each worker took a share"
        assert_each_refreshed_once(provider, db_url, key, n)


@pytest.mark.parametrize("engine", ["postgres"])
@pytest.mark.parametrize("fault", ["restart", "reset"])
def test_after_the_database_restarts_the_next_run_refreshes_what_was_never_sent(
    fault: str,
    engine: str,
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,
    key: str,
    pg_admin_url: str,  # type: ignore[no-untyped-def]
) -> None:
    """The run that loses the database (every connection reset, or the server restarted under
    it, and it cannot reach the server again) stops with what it claimed: the rows it had not
    sent yet go to the next run at once, not a lease (5 minutes) later."""
    if fault == "restart" and not pg_server.restartable(pg_admin_url):
        pytest.skip("the server is not one this test suite started")
    n = 40
    upstream = urlsplit(db_url)
    with (
        running_provider("--delay", "0") as provider,
        freezable_proxy((upstream.hostname or "127.0.0.1", upstream.port or 5432)) as proxy,
    ):
        config = provider.config(tmp_path / "tokensync.toml", batch_size=20)
        env = {**env, "TOKENSYNC_CONFIG": str(config)}
        due_grants(provider, run_cli, env, n)
        job = ["refresh-tokens", "--concurrency", "4", "--results", "none"]
        through = urlunsplit(upstream._replace(netloc=f"postgres@127.0.0.1:{proxy.port}"))
        provider.hold(True)
        try:
            failing = tokensync(job, {**env, "TOKENSYNC_DATABASE_URL": through})
            provider.wait_in_flight(4)
            leased = [
                c for i in range(n) if (c := connection(db_url, f"u{i}", "discord")).lease_owner
            ]
            assert len(leased) > 4, "the run claimed more than it sent"
            proxy.close()  # every connection of that run reset, and the way back gone
            if fault == "restart":
                pg_server.restart(pg_admin_url)
        finally:
            provider.hold(False)
        code, first, err = finish(failing)
        assert code == 3, (first, err)

        # A cron tick later, well inside the 5-minute lease the failed run took.
        code, document, err = finish(tokensync(job, env))

        assert code == 0, (document, err)
        assert document.get("spoolApplied", 0) == first["tokensRefreshed"], "in flight: spooled"
        assert first["tokensRefreshed"] + document["tokensRefreshed"] == n
        assert_each_refreshed_once(provider, db_url, key, n)


@pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="needs libfaketime (Debian package faketime)",
)
def test_a_host_far_off_the_databases_clock_is_shown_and_warned_of(
    env: dict[str, str],
    db_url: str,  # type: ignore[no-untyped-def]
) -> None:
    ahead = {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    wrapper = [FAKETIME or "", "-f", "+10m"]
    code, job, err = finish(tokensync(["refresh-tokens"], ahead, wrapper=wrapper))
    assert code == 0, (job, err)
    code, status, err = finish(tokensync(["status"], ahead, wrapper=wrapper))
    assert code == 0, (status, err)
    code, on_time, err = finish(tokensync(["status"], env))
    assert code == 0, (on_time, err)
    doctor_code, doctor, err = finish(tokensync(["doctor"], ahead, wrapper=wrapper))
    (clock,) = [c for c in doctor["checks"] if c["name"] == "clock"]

    if db_url.startswith("sqlite"):
        # A file on this host shares its clock, whatever that says.
        assert status["clockSkew"] is None and "warnings" not in job
        assert clock["status"] == "ok" and doctor_code == 0, (doctor, err)
        return
    # doctor fails on it, and says what to do.
    assert clock["status"] == "fail" and "NTP" in clock["fix"] and doctor_code == 1, doctor
    assert "fail  clock: this host's clock is +" in err
    assert 590 < status["clockSkew"]["seconds"] < 610 and status["clockSkew"]["tooFar"] is True
    (warning,) = job["warnings"]
    assert "ahead of the database's" in warning and "clock_skew_warning" in warning
    assert abs(on_time["clockSkew"]["seconds"]) < 5 and on_time["clockSkew"]["tooFar"] is False

"""Rotation safety under faults, against the strict rotating provider, with real processes.

The provider issues single-use refresh tokens and revokes a grant when a spent one comes back,
as Discord and GitHub Apps do. "Lost" would show as a reuse in the round after a fault: a token the
provider issued that reached neither the database nor the spool leaves the stored one spent.
Every test therefore ends with `a_clean_round`: expire everything, refresh once more, and require
each grant to refresh exactly once with no reuse and no revocation.

Runs keep the default request timeout (20 s) and lease (5 minutes) unless a test is about their
length: a loaded machine never reaches the one, and the test ends a failed run's leases itself
where the next run would otherwise have to outwait them.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.support.processes import (
    ProviderProcess,
    discord_grants,
    finish,
    running_provider,
    tokensync,
    wait_for,
)
from tests.support.support import Cli, CliResult, connection, expire_all, lapse_leases
from tests.support.tcp_proxy import freezable_proxy


def refresh(env: dict[str, str], *extra: str) -> Any:
    return tokensync(["refresh-tokens", "--results", "none", *extra], env)


def refreshed_count(db_url: str, n: int) -> int:
    """How many of the n grants (u0, u1, ... on discord) the database holds a refresh of."""
    return sum(
        connection(db_url, f"u{i}", "discord").last_refreshed_at is not None for i in range(n)
    )


def with_grants(
    provider: ProviderProcess,
    run_cli: Cli,
    env: dict[str, str],
    tmp_path: Path,
    n: int,
    **config: Any,
) -> dict[str, str]:
    """Configure tokensync for this provider, import n grants; return the environment."""
    path = provider.config(tmp_path / "tokensync.toml", **config)
    env = {**env, "TOKENSYNC_CONFIG": str(path)}
    imported: CliResult = run_cli(
        "tokens", "import", stdin=discord_grants(provider, n), extra_env=env
    )
    assert imported.code == 0, imported.out
    return env


def a_clean_round(provider: ProviderProcess, env: dict[str, str], db_url: str, n: int) -> None:
    """Every stored refresh token is the provider's current one: each refreshes once, cleanly.

    Leases that a failed run could not give back end first, as time would end them.
    """
    lapse_leases(db_url)
    before = provider.stats()
    expire_all(db_url)
    code, document, err = finish(refresh(env, "--concurrency", "16"))
    after = provider.stats()
    assert code == 0, (document, err)
    assert document["tokensRefreshed"] == n
    assert after["refreshes"] - before["refreshes"] == n
    assert after["reused_tokens"] == 0 and after["revoked_grants"] == 0
    assert after["invalid_grant"] == 0


def under_way(provider: ProviderProcess, refreshed: int) -> bool:
    """At least `refreshed` tokens issued, and a token request out at this moment."""
    stats = provider.stats()
    return bool(stats["refreshes"] >= refreshed and stats["in_flight"] > 0)


def spelled_otherwise(url: str) -> str:
    """The same PostgreSQL database, reached as localhost instead of 127.0.0.1."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.replace("127.0.0.1", "localhost")))


def admin(db_url: str) -> psycopg.Connection[Any]:
    parts = urlsplit(db_url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def cut_off(db_url: str, allow: bool) -> None:
    """Refuse (or allow again) new sessions to the database, and end the ones it has."""
    name = urlsplit(db_url).path.lstrip("/")
    with admin(db_url) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def spooled(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["TOKENSYNC_DATA_DIR"]) / "spool").glob("*.json"))


def test_leases_hold_while_rows_wait_on_a_platform_cap(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str
) -> None:
    """Rows queued longer than the lease stay this run's: overlapping runs never share one."""
    # The shortest lease a 3 s request timeout allows: time must pass it while rows still wait
    # (60 rows, 2 at a time, 0.4 s each: 12 s at the least), and no request may come near 3 s.
    n, lease = 60, 9
    with running_provider("--delay", "0.4") as provider:
        env = with_grants(
            provider,
            run_cli,
            env,
            tmp_path,
            n,
            batch_size=100,
            lease=f"{lease}s",
            request_timeout="3s",
            discord={"concurrency": 2},
        )

        first = refresh(env, "--concurrency", "16")
        wait_for(lambda: provider.stats()["refreshes"] >= 1, "the first run refreshes")
        time.sleep(lease + 1)  # its queued rows' first leases have lapsed by now
        assert first.poll() is None, "the first run still holds queued rows"
        later = [refresh(env, "--concurrency", "16") for _ in range(2)]
        documents = [finish(p) for p in (first, *later)]

        assert all(code == 0 for code, _, _ in documents), documents
        assert sum(d["tokensRefreshed"] for _, d, _ in documents) == n
        stats = provider.stats()
        assert stats["refreshes"] == n
        assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0
        a_clean_round(provider, env, db_url, n)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
@pytest.mark.parametrize("next_run", ["refresh-tokens", "poll-platforms"])
def test_the_database_going_away_stops_the_run_and_the_spool_survives_a_new_url(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str, next_run: str
) -> None:
    n, concurrency = 100, 4
    with running_provider("--delay", "0.5") as provider:
        env = with_grants(provider, run_cli, env, tmp_path, n, batch_size=20)

        run = refresh(env, "--concurrency", str(concurrency))
        # Cut while a request is out, not while every worker waits on the database (which a
        # loaded machine makes likelier): its answer, 0.5 s later, is what must be spooled.
        wait_for(lambda: under_way(provider, 8), "the run gets going, a request out")
        cut_off(db_url, allow=False)
        at_cut = provider.stats()["refreshes"]
        code, document, err = finish(run)
        sent_after = provider.stats()["refreshes"] - at_cut

        assert code == 3, (document, err)
        assert document["error"]["code"] == "database_error"
        assert sent_after <= concurrency, "only what was in flight at the cut was sent"
        assert "Traceback" not in err and "bench-rt-" not in err + json.dumps(document)
        issued = provider.stats()["refreshes"]
        cut_off(db_url, allow=True)
        stored = refreshed_count(db_url, n)
        assert len(spooled(env)) == issued - stored > 0, "every token issued is stored or spooled"

        # The next run reaches the same database by another name; it applies the spool first.
        # By then the leases the cut-off run could not give back have lapsed (polling would
        # otherwise wait on their token leases).
        lapse_leases(db_url)
        other = {**env, "TOKENSYNC_DATABASE_URL": spelled_otherwise(db_url)}
        code, document, err = finish(tokensync([next_run, "--results", "none"], other))
        assert code == 0, (document, err)
        assert document["spoolApplied"] == issued - stored
        assert spooled(env) == []
        assert provider.stats()["reused_tokens"] == 0
        a_clean_round(provider, env, db_url, n)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_hung_database_ends_the_run_and_sigterm_is_answered(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str
) -> None:
    n, concurrency = 80, 4
    upstream = urlsplit(db_url)
    with (
        running_provider("--delay", "0.2") as provider,
        freezable_proxy((upstream.hostname or "127.0.0.1", upstream.port or 5432)) as proxy,
    ):
        env = with_grants(
            provider,
            run_cli,
            env,
            tmp_path,
            n,
            batch_size=20,
            database_timeout="2s",
        )
        through = urlunsplit(upstream._replace(netloc=f"postgres@127.0.0.1:{proxy.port}"))
        run = refresh({**env, "TOKENSYNC_DATABASE_URL": through}, "--concurrency", str(concurrency))
        wait_for(lambda: provider.stats()["refreshes"] >= 8, "the run gets going")
        proxy.freeze()
        at_freeze = provider.stats()["refreshes"]
        run.send_signal(signal.SIGTERM)
        code, document, err = finish(run)
        proxy.close()  # the server sees the frozen sessions end, and their locks go

        assert code == 3, (document, err)
        assert document["error"]["code"] == "database_timeout"
        assert provider.stats()["refreshes"] - at_freeze <= concurrency
        issued = provider.stats()["refreshes"]
        stored = refreshed_count(db_url, n)
        assert len(spooled(env)) == issued - stored

        code, document, err = finish(refresh(env))
        assert code == 0, (document, err)
        assert document.get("spoolApplied", 0) == issued - stored
        assert provider.stats()["reused_tokens"] == 0
        a_clean_round(provider, env, db_url, n)


def test_sigterm_sends_nothing_for_rows_waiting_on_a_platform_cap(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str
) -> None:
    n = 40
    with running_provider("--delay", "1.0") as provider:
        env = with_grants(
            provider, run_cli, env, tmp_path, n, batch_size=40, discord={"concurrency": 2}
        )
        run = refresh(env, "--concurrency", "32")
        wait_for(lambda: provider.stats()["in_flight"] == 2, "two requests in flight")
        run.send_signal(signal.SIGTERM)
        code, document, err = finish(run)

        assert code == 0, (document, err)
        assert document["stopped"] == "sigterm"
        assert provider.stats()["requests"] == 2 == document["tokensRefreshed"]
        leased = [connection(db_url, f"u{i}", "discord").lease_owner for i in range(n)]
        assert leased == [None] * n, "what the run held and never sent is released"
        a_clean_round(provider, env, db_url, n)


def test_sigkill_loses_at_most_what_was_in_flight(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, db_url: str
) -> None:
    """The documented window: a kill loses the requests in flight at that moment, nothing more."""
    n, concurrency = 40, 4
    with running_provider("--delay", "0.5") as provider:
        env = with_grants(provider, run_cli, env, tmp_path, n, batch_size=40)
        run = refresh(env, "--concurrency", str(concurrency))
        wait_for(lambda: provider.stats()["refreshes"] >= 8, "the run gets going")
        run.kill()
        run.communicate(timeout=60)
        # The provider finishes the exchanges it had begun, whoever is left to hear the answer.
        wait_for(lambda: provider.stats()["in_flight"] == 0, "the provider is done")
        issued = provider.stats()["refreshes"]
        stored = refreshed_count(db_url, n)
        assert spooled(env) == []
        lost = issued - stored
        assert 0 <= lost <= concurrency, "only answers in flight at the kill can be lost"

        # Once the killed run's leases lapse, the next run finds those grants dead and says so.
        lapse_leases(db_url)
        code, document, err = finish(refresh(env, "--results", "failures"))
        assert (code == 0) == (lost == 0), (document, err)
        assert document["needsReauth"] == lost == provider.stats()["revoked_grants"]
        assert document["tokensRefreshed"] == n - stored - lost

"""Scale-out on PostgreSQL: workers split the work; a killed worker's leases expire."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.processes import discord_grants, finish, running_provider, tokensync, wait_for
from tests.support.support import Cli, lapse_leases
from tokensync.store import Connection, Filters, open_store

N, WORKERS = 2000, 3


def import_grants(run_cli: Cli, env: dict[str, str], lines: str) -> None:
    """Import these lines with this environment (its config included)."""
    assert run_cli("tokens", "import", stdin=lines, extra_env=env).code == 0


def rows(db_url: str) -> list[Connection]:
    """Every stored connection, as it is now."""
    store = open_store(db_url)
    try:
        return list(store.iter_connections(Filters()))
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["postgres"])
def test_workers_split_thousands_of_connections(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, engine: str
) -> None:
    # One worker alone would need 2000 / 32 * 0.1 = 6.25 s: far longer than a loaded machine
    # takes to start the other two, so each takes a share however slowly they come up.
    with running_provider("--delay", "0.1") as provider:
        env = {**env, "TOKENSYNC_CONFIG": str(provider.config(tmp_path / "c.toml"))}
        import_grants(run_cli, env, discord_grants(provider, N))
        workers = [
            tokensync(["refresh-tokens", "--concurrency", "32", "--results", "none"], env)
            for _ in range(WORKERS)
        ]
        documents = [finish(w, timeout=300)[1] for w in workers]
        counts = [d["tokensRefreshed"] for d in documents]
        assert sum(counts) == N, counts
        assert all(c > 0 for c in counts), f"every worker took a share: {counts}"
        stats = provider.stats()
        assert stats["refreshes"] == N and stats["reused_tokens"] == 0
        assert stats["revoked_grants"] == 0


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_killed_worker_leaves_only_leases_that_expire(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, engine: str, db_url: str
) -> None:
    count = 100
    # Google-like (no rotation), so the grants in flight at the kill stay usable.
    with running_provider("--delay", "0.5", "--no-rotate") as provider:
        # The default lease (5 minutes) and request timeout (20 s): no busy machine outlasts the
        # one or reaches the other, so the killed worker's leases end when the test ends them.
        env = {**env, "TOKENSYNC_CONFIG": str(provider.config(tmp_path / "c.toml", batch_size=20))}
        import_grants(run_cli, env, discord_grants(provider, count))

        victim = tokensync(["refresh-tokens", "--concurrency", "8"], env)
        wait_for(lambda: provider.stats()["in_flight"] >= 8, "the worker has 8 requests out")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        at_kill = rows(db_url)
        leased = [c for c in at_kill if c.lease_owner]
        sent = [c for c in leased if c.lease_sent_at is not None]
        assert len(leased) > len(sent) >= 8, "the killed worker claimed more than it sent"
        (owner,) = {c.lease_owner for c in leased}
        # Stored before the kill, so no longer due: none, unless the machine stalled for longer
        # than the provider's delay between seeing the requests and the kill.
        done = sum(c.last_refreshed_at is not None for c in at_kill)
        code, right_after, _ = finish(tokensync(["refresh-tokens"], env))
        assert code == 0
        # The killed worker is gone (its session's advisory lock with it): what it claimed and
        # never sent is refreshed at once; what it sent keeps its lease (its answer may be
        # somewhere) until the lease ends.
        assert right_after["tokensRefreshed"] == count - len(sent) - done, "sent rows are kept"

        # Time passing would end them: here it is the test, at a moment it chooses.
        assert lapse_leases(db_url, owner) == len(sent), "the other run left them alone"
        code, later, _ = finish(tokensync(["refresh-tokens"], env))
        assert code == 0 and later["tokensRefreshed"] == len(sent)
    after = rows(db_url)
    assert all(c.last_refreshed_at is not None for c in after), "nothing left undone"
    assert all(c.lease_owner is None for c in after)

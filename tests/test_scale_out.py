"""Scale-out on PostgreSQL: workers split the work; a killed worker's leases expire."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.processes import finish, running_provider, tokensync
from tests.support import Cli
from tokensync.store import Filters, open_store

N, WORKERS = 2000, 3


def seed_many(run_cli: Cli, env: dict[str, str], count: int) -> None:
    lines = "\n".join(
        json.dumps(
            {
                "userId": f"u{i}",
                "platform": "discord",
                "accessToken": f"AT-{i}",
                "refreshToken": f"RT-{i}",
                "expiresIn": 60,
            }
        )
        for i in range(count)
    )
    assert run_cli("tokens", "import", stdin=lines, extra_env=env).code == 0


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["postgres"])
def test_workers_split_thousands_of_connections(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, engine: str
) -> None:
    with running_provider("--delay", "0.02") as provider:
        env = {**env, "TOKENSYNC_CONFIG": str(provider.config(tmp_path / "c.toml"))}
        provider.add_grants([f"RT-{i}" for i in range(N)])
        seed_many(run_cli, env, N)
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


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["postgres"])
def test_a_killed_worker_leaves_only_leases_that_expire(
    run_cli: Cli, env: dict[str, str], tmp_path: Path, engine: str, db_url: str
) -> None:
    count = 100
    # Google-like (no rotation), so the grants in flight at the kill stay usable.
    with running_provider("--delay", "0.5", "--no-rotate") as provider:
        config = provider.config(
            tmp_path / "c.toml", request_timeout="1s", lease="3s", batch_size=20
        )
        env = {**env, "TOKENSYNC_CONFIG": str(config)}
        provider.add_grants([f"RT-{i}" for i in range(count)])
        seed_many(run_cli, env, count)

        victim = tokensync(["refresh-tokens", "--concurrency", "8"], env)
        deadline = time.monotonic() + 30
        while provider.stats()["in_flight"] < 8:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        store = open_store(db_url)
        try:
            leased = [c for c in store.iter_connections(Filters()) if c.lease_owner]
            assert leased, "the killed worker held leases"
            code, right_after, _ = finish(tokensync(["refresh-tokens"], env))
            assert code == 0
            assert right_after["tokensRefreshed"] == count - len(leased), "live leases are kept"
            time.sleep(3.2)  # the killed worker's leases expire
            code, later, _ = finish(tokensync(["refresh-tokens"], env))
            assert code == 0 and later["tokensRefreshed"] == len(leased)
            rows = list(store.iter_connections(Filters()))
        finally:
            store.close()
        assert all(c.last_refreshed_at is not None for c in rows), "nothing left undone"
        assert all(c.lease_owner is None for c in rows)

"""SIGTERM mid-run: in-flight refreshes finish and commit, then the JSON is printed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.support.processes import finish, running_provider, tokensync
from tests.support.support import connection

N, CONCURRENCY = 40, 8


def test_sigterm_lets_requests_in_flight_finish(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,  # type: ignore[no-untyped-def]
) -> None:
    with running_provider("--delay", "1.0") as provider:
        config = provider.config(tmp_path / "tokensync.toml", batch_size=10)
        env = {**env, "TOKENSYNC_CONFIG": str(config)}
        provider.add_grants([f"RT-{i}" for i in range(N)])
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
            for i in range(N)
        )
        assert run_cli("tokens", "import", stdin=lines, extra_env=env).code == 0

        worker = tokensync(["refresh-tokens", "--concurrency", str(CONCURRENCY)], env)
        deadline = time.monotonic() + 30
        while provider.stats()["in_flight"] < CONCURRENCY:
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        code, document, err = finish(worker, timeout=30)

        assert code == 0, (document, err)
        assert document["stopped"] == "sigterm"
        assert document["tokensRefreshed"] == CONCURRENCY == document["tokensChecked"]
        assert provider.stats()["refreshes"] == CONCURRENCY
        refreshed = [connection(db_url, f"u{i}", "discord") for i in range(N)]
        done = [c for c in refreshed if c.last_refreshed_at is not None]
        assert len(done) == CONCURRENCY, "every in-flight refresh was committed"
        assert all(c.lease_owner is None for c in refreshed), "nothing stays leased"
        assert "Traceback" not in err and "bench-rt-" not in err + json.dumps(document)

        rest = run_cli("refresh-tokens", "--dry-run", extra_env=env).json
        assert rest["tokensChecked"] == N - CONCURRENCY, "the rest is due for the next run"

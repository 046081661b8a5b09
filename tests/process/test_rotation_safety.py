"""Several refresh-tokens processes at once against a provider whose refresh tokens are single-use.

Reusing a spent refresh token revokes the grant, as Discord and GitHub Apps do. Two rounds: in
each, every token must be refreshed exactly once and no grant revoked, on both engines.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import finish, running_provider, tokensync
from tests.support.support import CliResult, expire_all

N, WORKERS = 120, 4


def test_overlapping_runs_never_reuse_a_refresh_token(
    run_cli,
    env: dict[str, str],
    tmp_path: Path,
    db_url: str,  # type: ignore[no-untyped-def]
) -> None:
    # Each worker alone would need 120 / 8 * 0.25 = 3.75 s: far longer than a loaded machine
    # takes to start the other three, so the work is shared however slowly they come up.
    with running_provider("--delay", "0.25") as provider:
        config = provider.config(tmp_path / "tokensync.toml", batch_size=10)
        env = {**env, "TOKENSYNC_CONFIG": str(config)}
        refresh_tokens = [f"RT-{i}" for i in range(N)]
        provider.add_grants(refresh_tokens)
        lines = "\n".join(
            json.dumps(
                {
                    "userId": f"u{i}",
                    "platform": "discord",
                    "accessToken": f"AT-{i}",
                    "refreshToken": rt,
                    "expiresIn": 60,
                }
            )
            for i, rt in enumerate(refresh_tokens)
        )
        imported: CliResult = run_cli("tokens", "import", stdin=lines, extra_env=env)
        assert imported.code == 0, imported.out

        for round_number in (1, 2):
            if round_number == 2:
                expire_all(db_url)
            workers = [
                tokensync(["refresh-tokens", "--concurrency", "8", "--results", "none"], env)
                for _ in range(WORKERS)
            ]
            documents = []
            for worker in workers:
                code, document, err = finish(worker)
                assert code == 0, (document, err)
                documents.append(document)
            refreshed = sum(d["tokensRefreshed"] for d in documents)
            stats = provider.stats()
            assert refreshed == N, f"round {round_number}: every token refreshed once"
            assert stats["refreshes"] == N * round_number
            assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0
            assert stats["invalid_grant"] == 0
            assert sum(1 for d in documents if d["tokensRefreshed"]) >= 2, "the work was shared"
            for secret in ("RT-1", "bench-rt-", "bench-at-", env["TOKENSYNC_ENCRYPTION_KEYS"]):
                assert all(secret not in json.dumps(d) for d in documents)

        status = run_cli("status", extra_env=env).json
        assert status["connections"]["byStatus"] == {"active": N}

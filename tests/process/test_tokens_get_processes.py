"""Many `tokens get` processes at once, and a refresh-tokens run beside them, on one connection
that is due for refresh, against a provider whose refresh tokens are single-use (reusing one
revokes the grant): one refresh at the provider, the same new token for every caller."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import discord_grants, finish, running_provider, tokensync
from tests.support.support import Cli

CALLERS = 20


def test_twenty_callers_and_a_run_share_one_refresh(
    run_cli: Cli, env: dict[str, str], tmp_path: Path
) -> None:
    # The provider answers after 1 s, so that callers started meanwhile find the lease held and
    # wait for it; those that start later find the new token stored. Both must hold.
    with running_provider("--delay", "1.0") as provider:
        config = provider.config(tmp_path / "tokensync.toml")
        env = {**env, "TOKENSYNC_CONFIG": str(config)}
        imported = run_cli("tokens", "import", stdin=discord_grants(provider, 1), extra_env=env)
        assert imported.code == 0, imported.out

        get = ["tokens", "get", "--user", "u0", "--platform", "discord"]
        callers = [tokensync(get, env) for _ in range(CALLERS // 2)]
        run = tokensync(["refresh-tokens"], env)
        callers += [tokensync(get, env) for _ in range(CALLERS - CALLERS // 2)]

        answers = []
        for caller in callers:
            code, document, err = finish(caller)
            assert code == 0, (document, err)
            answers.append(document)
        code, ran, err = finish(run)
        assert code == 0, (ran, err)

        stats = provider.stats()
        assert stats["refreshes"] == 1, "exactly one refresh at the provider"
        assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0
        assert stats["invalid_grant"] == 0
        assert {a["accessToken"] for a in answers} == {"bench-at-1-1"}, "the same new token"
        refreshed_here = sum(a["refreshed"] for a in answers) + ran["tokensRefreshed"]
        assert refreshed_here == 1, "one process refreshed; every other one waited or read it"
        assert run_cli("status", extra_env=env).json["connections"]["byStatus"] == {"active": 1}

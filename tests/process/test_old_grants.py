"""Grants replaced cleanly, on both engines, against the strict provider of
tests/support/provider.py in a process of its own (an RFC 7009 revocation endpoint that ends the
one grant a token belongs to): the grant an import or save_grant replaces is revoked once the
new one is stored; a provider that is down leaves it for the next job run; --keep-old-grant
leaves it alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ProviderProcess, running_provider
from tests.support.support import Cli, connection, query_value, run_sql, tokens
from tokensync.client import open_client


@pytest.fixture
def provider() -> Iterator[ProviderProcess]:
    with running_provider("--delay", "0") as running:
        running.add_grants(["rt-old", "rt-new"])
        yield running


def line(refresh: str, user: str = "u1") -> str:
    return json.dumps(
        {
            "userId": user,
            "platform": "discord",
            "accessToken": f"at-{refresh}",
            "refreshToken": refresh,
            "expiresIn": 3600,
        }
    )


def config_env(provider: ProviderProcess, path: Path, **discord: object) -> dict[str, str]:
    return {"TOKENSYNC_CONFIG": str(provider.config(path, revocation=True, discord=discord))}


def test_the_old_grant_is_revoked_once_the_new_one_is_stored(
    run_cli: Cli, db_url: str, key: str, tmp_path: Path, provider: ProviderProcess
) -> None:
    env = config_env(provider, tmp_path / "p.toml")
    assert run_cli("tokens", "import", stdin=line("rt-old"), extra_env=env).code == 0
    # An import refused as a whole stores nothing, and so revokes nothing.
    refused = run_cli("tokens", "import", stdin=line("rt-new") + "\n{", extra_env=env)
    assert refused.code == 2 and provider.live() == {"rt-old", "rt-new"}

    result = run_cli("tokens", "import", stdin=line("rt-new"), extra_env=env)
    assert result.code == 0, result.err
    conn_id = connection(db_url, "u1", "discord").id
    assert result.json["oldGrants"] == {
        "revoked": 1,
        "pending": 0,
        "notRevoked": 0,
        "grants": [
            {"connectionId": conn_id, "userId": "u1", "platform": "discord", "revoked": True}
        ],
    }
    assert provider.live() == {"rt-new"}, "the old grant ended at the provider, the new one lives"
    assert tokens(db_url, key, "u1", "discord") == ("at-rt-new", "rt-new")
    assert query_value(db_url, "SELECT COUNT(*) FROM replaced_grants") == 0


def test_a_provider_that_is_down_leaves_it_to_the_next_job_run(
    run_cli: Cli, db_url: str, tmp_path: Path, provider: ProviderProcess
) -> None:
    working = config_env(provider, tmp_path / "up.toml")
    down = config_env(provider, tmp_path / "down.toml", revocation_url="http://127.0.0.1:9/revoke")
    assert run_cli("tokens", "import", stdin=line("rt-old"), extra_env=down).code == 0
    result = run_cli("tokens", "import", stdin=line("rt-new"), extra_env=down)
    assert result.code == 0, result.err
    old = result.json["oldGrants"]
    assert (old["revoked"], old["pending"]) == (0, 1)
    assert "retried by the next job run" in old["grants"][0]["reason"]
    assert provider.live() == {"rt-old", "rt-new"}
    # The next attempt is due (its back-off, a minute, has passed) and the provider is back.
    run_sql(db_url, "UPDATE replaced_grants SET next_attempt_at = replaced_at")
    refreshed = run_cli("refresh-tokens", extra_env=working)
    assert refreshed.code == 0, refreshed.out
    assert refreshed.json["tokensChecked"] == 0, "nothing else was due"
    assert refreshed.json["oldGrants"]["revoked"] == 1
    assert provider.live() == {"rt-new"}
    assert query_value(db_url, "SELECT COUNT(*) FROM replaced_grants") == 0


def test_keep_old_grant_and_the_same_grant_again_revoke_nothing(
    run_cli: Cli, db_url: str, tmp_path: Path, provider: ProviderProcess
) -> None:
    env = config_env(provider, tmp_path / "p.toml")
    assert run_cli("tokens", "import", stdin=line("rt-old"), extra_env=env).code == 0
    kept = run_cli("tokens", "import", "--keep-old-grant", stdin=line("rt-new"), extra_env=env)
    assert kept.code == 0 and "oldGrants" not in kept.json
    assert provider.live() == {"rt-old", "rt-new"}
    # The same refresh token imported again (a migration run twice) is no other grant.
    assert run_cli("tokens", "import", stdin=line("rt-new"), extra_env=env).code == 0
    again = run_cli("tokens", "import", stdin=line("rt-new"), extra_env=env)
    grants = again.json["oldGrants"]["grants"]
    assert again.json["oldGrants"]["notRevoked"] == 1 and not grants[0]["revoked"]
    assert grants[0]["reason"] == "the same grant was imported again: nothing to revoke"
    assert provider.live() == {"rt-old", "rt-new"}
    assert query_value(db_url, "SELECT COUNT(*) FROM replaced_grants") == 0


def test_save_grant_revokes_the_grant_it_replaces(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    tmp_path: Path,
    provider: ProviderProcess,
) -> None:
    # The provider's client credentials are in the config file (tests/support/processes.py).
    for name, value in {**env, **config_env(provider, tmp_path / "p.toml")}.items():
        monkeypatch.setenv(name, value)
    callback = {"access_token": "at-rt-old", "refresh_token": "rt-old", "expires_in": 604800}
    with open_client() as client:
        first = client.save_grant("u1", "discord", callback)
        assert first.old_grants is None
        new = {**callback, "access_token": "at-rt-new", "refresh_token": "rt-new"}
        second = client.save_grant("u1", "discord", new)
    assert second.old_grants is not None
    assert [(g.user_id, g.revoked) for g in second.old_grants.revoked] == [("u1", True)]
    assert provider.live() == {"rt-new"}
    assert connection(db_url, "u1", "discord").grant_generation == 2

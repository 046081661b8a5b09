"""The settings of pushed revocations: checked up front, the secret never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokensync.errors import ConfigError
from tokensync.settings import Settings, load_settings
from tokensync.settings.revocation_sources import GOOGLE_RISC_JWKS_URL


def settings_of(tmp_path: Path, toml: str, **env: str) -> Settings:
    config = tmp_path / "c.toml"
    config.write_text(toml)
    return load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path), **env}, config_path=config)


def test_defaults_and_values(tmp_path: Path) -> None:
    plain = settings_of(tmp_path, "").revocations
    assert (plain.github_webhook_secret, plain.google_risc_audience) == (None, ())
    assert plain.google_risc_jwks_url == GOOGLE_RISC_JWKS_URL
    secret = "s3cret-of-the-github-app-0123"
    given = settings_of(
        tmp_path,
        'google_risc_audience = "a.apps.googleusercontent.com"\n'
        'google_risc_jwks_url = "http://127.0.0.1:9/certs"\n',
        TOKENSYNC_GITHUB_WEBHOOK_SECRET=secret,
    )
    assert given.revocations.google_risc_audience == ("a.apps.googleusercontent.com",)
    assert given.revocations.google_risc_jwks_url == "http://127.0.0.1:9/certs"
    assert secret in given.secrets, "redacted wherever an answer echoes it"
    assert secret not in repr(given)


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("google_risc_audience = [1]\n", {}, "google_risc_audience must be a client id or a list"),
        (
            'google_risc_jwks_url = "http://keys.example/certs"\n',
            {},
            "google_risc_jwks_url must be an https URL",
        ),
        (
            "",
            {"TOKENSYNC_GITHUB_WEBHOOK_SECRET": "short"},
            "TOKENSYNC_GITHUB_WEBHOOK_SECRET is shorter than 16",
        ),
    ],
)
def test_a_bad_value_is_refused_by_name(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        settings_of(tmp_path, toml, **env)
    assert "short" not in str(refused.value).replace("shorter", ""), "the secret is not echoed"

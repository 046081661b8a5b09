from __future__ import annotations

from pathlib import Path

import pytest

from tokensync.errors import ConfigError
from tokensync.platforms.catalog import BUILTIN_PLATFORMS
from tokensync.settings import load_settings
from tokensync.times import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("250ms", 0.25), ("45", 45), (7, 7)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m10", "-5", "1h 30m", "ten minutes"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_with_nothing_configured(tmp_path: Path) -> None:
    settings = load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)})
    assert settings.database_is_default
    assert settings.database_url == f"sqlite:///{tmp_path / 'tokensync.db'}"
    assert set(settings.platforms) == {
        "spotify",
        "youtube",
        "google_gmail",
        "google_calendar",
        "github",
        "discord",
    }
    assert settings.platforms["spotify"].token_url == "https://accounts.spotify.com/api/token"
    assert settings.platforms["spotify"].auth_method == "client_secret_basic"
    assert settings.platforms["discord"].api_base == "https://discord.com/api/v10"
    assert settings.platforms["github"].default_expires_in is None
    assert not settings.platforms["github"].has_credentials
    assert settings.reconcile_interval == 86400


def test_database_url_precedence(tmp_path: Path) -> None:
    """The flag, TOKENSYNC_DATABASE_URL, the config file, then DATABASE_URL: a DATABASE_URL set
    for another program never overrides the database this one was configured for."""
    config = tmp_path / "tokensync.toml"
    config.write_text('database_url = "postgresql://from-file/db"\n')
    env = {"TOKENSYNC_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://b/db"}
    assert load_settings(env).database_url == "postgresql://b/db"
    assert load_settings(env, config_path=config).database_url == "postgresql://from-file/db"
    env["TOKENSYNC_DATABASE_URL"] = "postgres://a/db"
    assert load_settings(env, config_path=config).database_url == "postgres://a/db"
    flag = load_settings(env, database_url="sqlite:///x.db", config_path=config)
    assert flag.database_url == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="--database-url must start with postgresql://"):
        load_settings(env, database_url="mysql://x/y")
    with pytest.raises(ConfigError, match=r"^DATABASE_URL must start with"):
        load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path), "DATABASE_URL": "mysql://x/y"})


def test_credentials_env_and_google_fallback(tmp_path: Path) -> None:
    env = {
        "TOKENSYNC_DATA_DIR": str(tmp_path),
        "TOKENSYNC_GOOGLE_CLIENT_ID": "gid",
        "TOKENSYNC_GOOGLE_CLIENT_SECRET": "gsecret",
        "TOKENSYNC_YOUTUBE_CLIENT_ID": "ytid",
        "TOKENSYNC_SPOTIFY_CLIENT_ID": "sid",
        "TOKENSYNC_SPOTIFY_CLIENT_SECRET": "ssecret",
    }
    platforms = load_settings(env).platforms
    assert (platforms["youtube"].client_id, platforms["youtube"].client_secret) == (
        "ytid",
        "gsecret",
    )
    assert platforms["google_gmail"].client_id == "gid"
    assert platforms["spotify"].has_credentials
    assert "ssecret" not in repr(platforms["spotify"])
    assert "github" in platforms and not platforms["discord"].has_credentials


def test_toml_file_overrides_and_custom_platform(tmp_path: Path) -> None:
    config = tmp_path / "tokensync.toml"
    config.write_text(
        """
concurrency = 32
refresh_window = "15m"
reconcile_interval = "6h"

[platforms.spotify]
client_id = "from-file"
concurrency = 4

[platforms.acme]
token_url = "https://id.acme.example/oauth/token"
auth_method = "client_secret_basic"
"""
    )
    env = {"TOKENSYNC_DATA_DIR": str(tmp_path), "TOKENSYNC_ACME_CLIENT_SECRET": "s"}
    settings = load_settings(env, config_path=config)
    assert settings.concurrency == 32 and settings.refresh_window == 900
    assert settings.reconcile_interval == 6 * 3600
    assert settings.platforms["spotify"].client_id == "from-file"
    assert settings.platforms["spotify"].concurrency == 4
    acme = settings.platforms["acme"]
    assert acme.api_base is None and acme.name not in BUILTIN_PLATFORMS
    assert acme.client_secret == "s" and acme.auth_method == "client_secret_basic"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("bogus = 1", "unknown setting"),
        ('[platforms.acme]\nauth_method = "client_secret_post"', "needs token_url"),
        ('[platforms.acme]\ntoken_url = "http://id.acme.example/token"', "must be an https URL"),
        ('[platforms.spotify]\nauth_method = "jwt"', "auth_method"),
        ('[platforms.spotify]\ncolour = "blue"', "unknown key"),
        ("concurrency = 0", "concurrency must be a whole number from 1 to 1024"),
        ("concurrency = 99999999999", "concurrency must be a whole number from 1 to 1024"),
        ("batch_size = 1000000", "batch_size must be a whole number from 1 to 10000"),
        ("[platforms.spotify]\nconcurrency = 0", "platforms.spotify.concurrency must be"),
        ('refresh_window = "soon"', "not a duration"),
        ('request_timeout = "0s"', "request_timeout must be longer than zero"),
        ('lease = "0"', "lease must be longer than zero"),
        ('database_timeout = "0ms"', "database_timeout must be longer than zero"),
        ('refresh_stale_after = "0s"', "refresh_stale_after must be longer than zero"),
        ('refresh_window = "99999999999d"', "refresh_window: .* longer than the longest"),
        ("max_wait = nan", "max_wait: not a duration"),
        ("max_wait = inf", "max_wait: not a duration"),
        ("request_timeout = 1e300", "request_timeout: .* longer than the longest"),
        ('database_url = "host=db password=s3cret"', "got a keyword connection string"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_files(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}, config_path=config)


def test_loopback_http_is_allowed(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[platforms.spotify]\ntoken_url = "http://127.0.0.1:8080/token"\n'
        'api_base = "http://localhost:9/v1"\n'
    )
    settings = load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}, config_path=config)
    assert settings.platforms["spotify"].token_url == "http://127.0.0.1:8080/token"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}, config_path=tmp_path / "nope.toml")


WHSEC_A = "whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2Rl"
WHSEC_B = "whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"


def webhook_settings(tmp_path: Path, url: str, secret: str | None):
    config = tmp_path / "hooks.toml"
    config.write_text(f'webhook_url = "{url}"\nfailing_after = "2h"\nexpiring_within = "3d"\n')
    env = {"TOKENSYNC_DATA_DIR": str(tmp_path), "TOKENSYNC_CONFIG": str(config)}
    if secret is not None:
        env["TOKENSYNC_WEBHOOK_SECRET"] = secret
    return load_settings(env)


def test_webhook_settings_take_several_secrets_and_durations(tmp_path: Path) -> None:
    settings = webhook_settings(tmp_path, "https://app.example/hooks", f" {WHSEC_B} ,{WHSEC_A}")
    assert settings.webhook_url == "https://app.example/hooks"
    assert settings.webhook_secrets == (WHSEC_B, WHSEC_A)
    assert (settings.failing_after, settings.expiring_within) == (7200, 3 * 86400)
    assert WHSEC_A not in repr(settings) and "app.example" not in repr(settings)
    local = webhook_settings(tmp_path, "http://127.0.0.1:8080/hooks", WHSEC_A)
    assert local.webhook_url == "http://127.0.0.1:8080/hooks"


@pytest.mark.parametrize(
    ("url", "secret", "says"),
    [
        ("http://app.example/hooks?key=sekrit", WHSEC_A, "must be an https URL"),
        ("https://app.example/hooks", None, "TOKENSYNC_WEBHOOK_SECRET is not"),
        ("https://app.example/hooks", "sekrit-not-whsec", "secret 1 is not a Standard Webhooks"),
        ("https://app.example/hooks", f"{WHSEC_A},whsec_c2hvcnQ=", "secret 2 is not"),
    ],
)
def test_bad_webhook_settings_are_refused_without_echoing_them(
    tmp_path: Path, url: str, secret: str | None, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as refused:
        webhook_settings(tmp_path, url, secret)
    for private in ("sekrit", WHSEC_A, "c2hvcnQ"):
        assert private not in str(refused.value)


def test_a_poll_interval_of_nine_seconds_is_fine(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('poll_interval = "9"\nmax_wait = "0s"\nrefresh_window = 0\n')
    settings = load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}, config_path=config)
    assert (settings.poll_interval, settings.max_wait, settings.refresh_window) == (9, 0, 0)


def test_a_binary_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "tokensync.toml"
    config.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=f"config file {config} is not UTF-8 text"):
        load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}, config_path=config)
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}, config_path=tmp_path)


@pytest.mark.parametrize("value", [" , ", ",", " ", ",,,"])
def test_a_key_list_of_only_separators_is_refused(tmp_path: Path, value: str) -> None:
    env = {"TOKENSYNC_DATA_DIR": str(tmp_path), "TOKENSYNC_ENCRYPTION_KEYS": value}
    with pytest.raises(ConfigError, match="TOKENSYNC_ENCRYPTION_KEYS is set but holds no key"):
        load_settings(env)
    # Empty is unset: the embedded default then makes (or reads) its key file.
    assert load_settings({**env, "TOKENSYNC_ENCRYPTION_KEYS": ""}).encryption_keys == ()


@pytest.mark.parametrize(
    "text", ["99999999999d", "1e400", "9" * 400, "3651d", "87601h", "315360001"]
)
def test_durations_past_ten_years_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_longest_duration_is_ten_years() -> None:
    assert parse_duration("3650d") == 3650 * 86400
    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(ValueError):
            parse_duration(bad)

"""Environment + optional TOML file -> one immutable Settings, validated up front."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tokensync.errors import ConfigError
from tokensync.platforms.catalog import DEFAULT_CONCURRENCY, Platform
from tokensync.redaction import url_secrets
from tokensync.settings.platform_tables import platforms_from
from tokensync.settings.revocation_sources import RevocationSources, revocation_sources
from tokensync.settings.values import (
    check_database_url,
    check_url,
    read_toml,
    typed_value,
    webhook_secrets,
)

# A poll holds its platform slot for every page of a connection: fewer at once than refreshes.
POLL_CONCURRENCY = 16


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, read once."""

    database_url: str = field(repr=False)
    database_is_default: bool
    platforms: Mapping[str, Platform]
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    encryption_keys_file: Path | None = None
    data_dir: Path = Path(".")
    refresh_window: float = 600.0
    refresh_stale_after: float = 86400.0
    concurrency: int = DEFAULT_CONCURRENCY
    request_timeout: float = 20.0
    lease_seconds: float = 300.0
    database_timeout: float = 10.0
    batch_size: int = 200
    max_pages: int = 10
    max_wait: float = 30.0
    poll_interval: float = 600.0
    # How often, at most, a list that cannot say what left it is walked whole (YouTube likes).
    reconcile_interval: float = 86400.0
    backoff_base: float = 60.0
    backoff_max: float = 6 * 3600.0
    # Lifecycle events: where they are delivered, signed with which secrets (the first is the
    # current one; several sign in parallel while a receiver rotates).
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    webhook_timeout: float = 10.0
    # How long, at most, a job run delivers events at its end (never past --max-duration).
    deliver_within: float = 30.0
    # Refresh failures for this long make connection.failing; a grant ending within this makes
    # connection.expiring.
    failing_after: float = 6 * 3600.0
    expiring_within: float = 7 * 86400.0
    # Delivered and dead events are kept this long (events list, replay), then removed.
    event_retention: float = 30 * 86400.0
    # A host whose clock is further than this from the database's gets a warning in each job's
    # document (leases go by the database's clock; stored times and due windows by this host's).
    clock_skew_warning: float = 30.0
    # Revocations the platforms push (`revocations ingest`): their secrets and keys.
    revocations: RevocationSources = field(default_factory=RevocationSources)

    @property
    def poll_concurrency(self) -> int:
        """Connections polled at once when --concurrency is not given."""
        return min(self.concurrency, POLL_CONCURRENCY)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret, for the redaction of what the other side answers: the
        client secrets, the webhook secrets, the encryption keys, the database password."""
        clients = (p.client_secret for p in self.platforms.values() if p.client_secret)
        database = url_secrets(self.database_url)
        github = self.revocations.github_webhook_secret
        pushed = (github,) if github else ()
        return (*clients, *self.webhook_secrets, *pushed, *self.encryption_keys, *database)

    @property
    def spool_dir(self) -> Path:
        """Where freshly issued tokens wait when the database is away."""
        return self.data_dir / "spool"


_GLOBAL_KEYS: dict[str, str] = {
    "database_url": "str",
    "refresh_window": "duration",
    "refresh_stale_after": "duration",
    "concurrency": "int",
    "request_timeout": "duration",
    "lease": "duration",
    "database_timeout": "duration",
    "batch_size": "int",
    "max_pages": "int",
    "max_wait": "duration",
    "poll_interval": "duration",
    "reconcile_interval": "duration",
    "webhook_url": "str",
    "webhook_timeout": "duration",
    "deliver_within": "duration",
    "failing_after": "duration",
    "expiring_within": "duration",
    "event_retention": "duration",
    "clock_skew_warning": "duration",
}


# Read by settings/revocation_sources.py.
_REVOCATION_KEYS = ("google_risc_audience", "google_risc_jwks_url")


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The user's data directory for tokensync (TOKENSYNC_DATA_DIR overrides)."""
    if environ.get("TOKENSYNC_DATA_DIR"):
        return Path(environ["TOKENSYNC_DATA_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tokensync", appauthor=False))


def default_config_file(environ: Mapping[str, str]) -> Path | None:
    """config.toml in the user's config directory (XDG_CONFIG_HOME, ~/.config/tokensync on
    Linux), when it exists: read when neither --config nor TOKENSYNC_CONFIG names a file."""
    import platformdirs

    if environ.get("XDG_CONFIG_HOME"):  # the environment given, not only the process's
        base = Path(environ["XDG_CONFIG_HOME"]).expanduser() / "tokensync"
    else:
        base = Path(platformdirs.user_config_dir("tokensync", appauthor=False))
    path = base / "config.toml"
    return path if path.is_file() else None


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    database_url: str | None = None,
    config_path: str | Path | None = None,
) -> Settings:
    """Read the environment and the TOML file (if any) and validate every value."""
    env = dict(os.environ if environ is None else environ)
    config_path = config_path or env.get("TOKENSYNC_CONFIG") or default_config_file(env)
    doc = read_toml(Path(config_path)) if config_path else {}
    unknown = set(doc) - set(_GLOBAL_KEYS) - {"platforms", *_REVOCATION_KEYS}
    if unknown:
        raise ConfigError(f"unknown setting(s) in {config_path}: {', '.join(sorted(unknown))}")
    values = {
        key: typed_value(key, doc[key], kind) for key, kind in _GLOBAL_KEYS.items() if key in doc
    }
    values["revocations"] = revocation_sources(doc, env)

    data_dir = default_data_dir(env)
    # DATABASE_URL comes last: it is often set for another program (a web framework, a PaaS)
    # and must not override a database this program was configured for.
    url, source = next(
        (
            (value, name)
            for value, name in (
                (database_url, "--database-url"),
                (env.get("TOKENSYNC_DATABASE_URL"), "TOKENSYNC_DATABASE_URL"),
                (values.pop("database_url", None), f"database_url in {config_path}"),
                (env.get("DATABASE_URL"), "DATABASE_URL"),
            )
            if value
        ),
        (None, ""),
    )
    is_default = not url
    if not url:
        url = f"sqlite:///{data_dir / 'tokensync.db'}"
    check_database_url(url, source or "the default database URL")

    raw_keys = env.get("TOKENSYNC_ENCRYPTION_KEYS", "")
    keys = tuple(k.strip() for k in raw_keys.split(",") if k.strip())
    if raw_keys and not keys:
        raise ConfigError(
            "TOKENSYNC_ENCRYPTION_KEYS is set but holds no key (only commas or spaces): give "
            "the keys, or unset it"
        )
    keys_file = env.get("TOKENSYNC_ENCRYPTION_KEYS_FILE") or None
    if "lease" in values:
        values["lease_seconds"] = values.pop("lease")
    platforms = platforms_from(doc.get("platforms", {}), env)
    if "webhook_url" in values:
        values["webhook_url"] = check_url(values["webhook_url"], "webhook_url", echo=False)
    secrets = webhook_secrets(env.get("TOKENSYNC_WEBHOOK_SECRET", ""))
    if values.get("webhook_url") and not secrets:
        raise ConfigError(
            "webhook_url is set but TOKENSYNC_WEBHOOK_SECRET is not: set it to the receiver's "
            "secret (whsec_...)"
        )
    settings = Settings(
        database_url=url,
        database_is_default=is_default,
        platforms=platforms,
        encryption_keys=keys,
        encryption_keys_file=Path(keys_file).expanduser() if keys_file else None,
        data_dir=data_dir,
        webhook_secrets=secrets,
        **values,
    )
    if settings.lease_seconds < 3 * settings.request_timeout:
        raise ConfigError("lease must be at least three times request_timeout")
    return settings

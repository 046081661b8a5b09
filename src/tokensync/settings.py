"""Environment + optional TOML file -> one immutable Settings, validated up front."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tokensync.errors import ConfigError
from tokensync.platforms.catalog import (
    AUTH_METHODS,
    BUILTIN_PLATFORMS,
    DEFAULT_CONCURRENCY,
    Platform,
)
from tokensync.redaction import bare_url, url_secrets
from tokensync.times import parse_duration

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Standard Webhooks: a secret is 24 to 64 random bytes, base64 after the whsec_ prefix.
_SECRET_PREFIX = "whsec_"
_SECRET_BYTES = (24, 64)
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
        return (*clients, *self.webhook_secrets, *self.encryption_keys, *database)

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
# Duration settings that zero would break (durations.py bounds the longest): a timeout of zero
# fails every request, a lease of zero lets every run take every row, a staleness of zero
# refreshes every token at every run; a webhook_timeout of zero fails every delivery.
_POSITIVE = frozenset(
    {"refresh_stale_after", "request_timeout", "lease", "database_timeout", "webhook_timeout"}
)
# The largest whole number each setting takes: a run starts `concurrency` workers, and claims
# `batch_size` rows in one statement.
_LARGEST = {"concurrency": 1024, "batch_size": 10_000, "max_pages": 1000}
_PLATFORM_KEYS = {
    "client_id",
    "client_secret",
    "token_url",
    "api_base",
    "auth_method",
    "concurrency",
    "default_expires_in",
    "revocation_url",
    "revoke_superseded",
}


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
    doc = _read_toml(Path(config_path)) if config_path else {}
    unknown = set(doc) - set(_GLOBAL_KEYS) - {"platforms"}
    if unknown:
        raise ConfigError(f"unknown setting(s) in {config_path}: {', '.join(sorted(unknown))}")
    values = {key: _typed(key, doc[key], kind) for key, kind in _GLOBAL_KEYS.items() if key in doc}

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
    platforms = _platforms(doc.get("platforms", {}), env)
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


def webhook_secrets(text: str) -> tuple[str, ...]:
    """TOKENSYNC_WEBHOOK_SECRET: whsec_ secrets, comma-separated, each checked (never echoed)."""
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    for number, secret in enumerate(found, start=1):
        try:
            key = base64.b64decode(secret.removeprefix(_SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        low, high = _SECRET_BYTES
        if not secret.startswith(_SECRET_PREFIX) or not low <= len(key) <= high:
            raise ConfigError(
                f"TOKENSYNC_WEBHOOK_SECRET: secret {number} is not a Standard Webhooks secret "
                f"(whsec_ then the base64 of {low} to {high} bytes)"
            )
    return found


def check_database_url(url: str, source: str = "the database URL") -> None:
    """Accept postgresql://, postgres:// and sqlite:/// URLs only; never echo one (it may hold
    a password, or be a keyword DSN such as `host=db password=...`)."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else ""
    if scheme in ("postgresql", "postgres"):
        from tokensync.store.postgres import connection_params

        try:
            connection_params(url)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc.message}") from None
        return
    if scheme == "sqlite" and url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return
    if not scheme:
        got = "a keyword connection string" if "=" in url else "something that is not a URL"
    else:
        got = f"a URL of scheme {scheme!r}"
    raise ConfigError(
        f"{source} must start with postgresql://, postgres:// or sqlite:/// (got {got}; "
        "write PostgreSQL's as postgresql://user:password@host:port/dbname)"
    )


def check_url(url: str, what: str, *, echo: bool = True) -> str:
    """Require https, or plain http to a loopback host (tests and stand-ins). `echo=False` for a
    URL that may hold a secret of its own (webhook_url): the error does not repeat it; otherwise
    it shows the URL without its user-info, query and fragment."""
    parts = urlsplit(url)
    shown = f": {bare_url(url)!r}" if echo else ""
    if not parts.hostname:
        raise ConfigError(f"{what} is not a URL{shown}")
    if parts.scheme == "https":
        return url.rstrip("/")
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ConfigError(f"{what} must be an https URL (http only to loopback hosts){shown}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:  # a binary file: tomllib reads UTF-8 text only
        raise ConfigError(f"config file {path} is not UTF-8 text (is it a TOML file?)") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib says where (line, column), never the text: the file may hold a client secret.
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _typed(key: str, value: Any, kind: str) -> Any:
    if kind == "duration":
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        if key in _POSITIVE and seconds <= 0:
            raise ConfigError(f"{key} must be longer than zero (got {value!r})")
        return seconds
    if kind == "int":
        most = _LARGEST.get(key.rsplit(".", 1)[-1], 1024)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise ConfigError(f"{key} must be a whole number from 1 to {most}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string")
    return value


def _credential(env: Mapping[str, str], name: str, half: str, fallback: str | None) -> str | None:
    for prefix in (name.upper(), fallback):
        if prefix and env.get(f"TOKENSYNC_{prefix}_{half}"):
            return env[f"TOKENSYNC_{prefix}_{half}"]
    return None


def _platforms(table: Any, env: Mapping[str, str]) -> dict[str, Platform]:
    if not isinstance(table, dict):
        raise ConfigError("[platforms] must be a table of platform tables")
    result: dict[str, Platform] = {}
    for name in list(BUILTIN_PLATFORMS) + sorted(set(table) - set(BUILTIN_PLATFORMS)):
        conf = table.get(name, {})
        if not isinstance(conf, dict):
            raise ConfigError(f"[platforms.{name}] must be a table")
        if not _NAME.fullmatch(name):
            raise ConfigError(f"platform name {name!r}: use lower-case letters, digits and _")
        unknown = set(conf) - _PLATFORM_KEYS
        if unknown:
            raise ConfigError(f"[platforms.{name}]: unknown key(s) {', '.join(sorted(unknown))}")
        builtin = BUILTIN_PLATFORMS.get(name)
        if builtin is None:
            if "token_url" not in conf:
                raise ConfigError(f"[platforms.{name}] needs token_url")
            builtin = Platform(name=name, token_url=str(conf["token_url"]), api_base=None)
        auth_method = conf.get("auth_method", builtin.auth_method)
        if auth_method not in AUTH_METHODS:
            raise ConfigError(f"[platforms.{name}] auth_method must be one of {AUTH_METHODS}")
        concurrency = _typed(
            f"platforms.{name}.concurrency", conf.get("concurrency", builtin.concurrency), "int"
        )
        expires = conf.get("default_expires_in", builtin.default_expires_in)
        if expires is not None and (
            isinstance(expires, bool) or not isinstance(expires, int) or expires < 0
        ):
            raise ConfigError(f"[platforms.{name}] default_expires_in must be seconds")
        fallback = builtin.credentials_fallback
        client_id = _credential(env, name, "CLIENT_ID", fallback) or conf.get("client_id")
        client_secret = _credential(env, name, "CLIENT_SECRET", fallback) or conf.get(
            "client_secret"
        )
        for key, value in (("client_id", client_id), ("client_secret", client_secret)):
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"[platforms.{name}] {key} must be a string")
        api_base = conf.get("api_base", builtin.api_base)
        revocation = _revocation(name, conf, builtin)
        # A platform of your own revokes one grant's tokens by RFC 7009: its superseded tokens
        # are revoked unless the section says otherwise.
        own = name not in BUILTIN_PLATFORMS and revocation.get("revocation") == "rfc7009"
        revoke_superseded = conf.get("revoke_superseded", own or builtin.revoke_superseded)
        if not isinstance(revoke_superseded, bool):
            raise ConfigError(f"[platforms.{name}] revoke_superseded must be true or false")
        result[name] = replace(
            builtin,
            token_url=check_url(
                str(conf.get("token_url", builtin.token_url)), f"[platforms.{name}] token_url"
            ),
            api_base=check_url(str(api_base), f"[platforms.{name}] api_base") if api_base else None,
            auth_method=auth_method,
            client_id=client_id,
            client_secret=client_secret,
            concurrency=concurrency,
            default_expires_in=expires,
            revoke_superseded=revoke_superseded,
            **revocation,
        )
    return result


def _revocation(name: str, conf: Mapping[str, Any], builtin: Platform) -> dict[str, Any]:
    """A platform's revocation, as its section configures it: `revocation_url` (RFC 7009 for a
    platform of your own; another endpoint of the same kind for a built-in one)."""
    url = conf.get("revocation_url")
    if url is None:
        if builtin.revocation is None and builtin.no_revocation is None:
            reason = f"no revocation_url is configured in [platforms.{name}]"
            return {"no_revocation": reason}
        return {}
    where = f"[platforms.{name}] revocation_url"
    if not isinstance(url, str):
        raise ConfigError(f"{where} must be a string")
    if builtin.revocation == "github":
        raise ConfigError(
            f"{where}: GitHub revokes at api_base's /applications/{{client_id}}/grant"
        )
    return {
        "revocation": builtin.revocation or "rfc7009",
        "revocation_url": check_url(url, where),
        "no_revocation": None,
    }

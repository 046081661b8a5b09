"""The values a setting may take, checked: durations and whole numbers read from the TOML file,
URLs (https, or http on loopback), the database URL, the webhook secrets."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tokensync.errors import ConfigError
from tokensync.redaction import bare_url
from tokensync.times import parse_duration

# Standard Webhooks: a secret is 24 to 64 random bytes, base64 after the whsec_ prefix.
_SECRET_PREFIX = "whsec_"
_SECRET_BYTES = (24, 64)


# Duration settings that zero would break (times.parse_duration bounds the longest): a timeout of
# zero fails every request, a lease of zero lets every run take every row, a staleness of zero
# refreshes every token at every run; a webhook_timeout of zero fails every delivery.
_POSITIVE = frozenset(
    {"refresh_stale_after", "request_timeout", "lease", "database_timeout", "webhook_timeout"}
)
# The largest whole number each setting takes: a run starts `concurrency` workers, and claims
# `batch_size` rows in one statement.
_LARGEST = {"concurrency": 1024, "batch_size": 10_000, "max_pages": 1000}


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
        from tokensync.store.pg_url import connection_params

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


def read_toml(path: Path) -> dict[str, Any]:
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


def typed_value(key: str, value: Any, kind: str) -> Any:
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

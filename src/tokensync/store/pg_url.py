"""postgresql:// URLs read as libpq's connection parameters, never echoing a password."""

from __future__ import annotations

from urllib.parse import unquote

import psycopg

from tokensync.errors import ConfigError
from tokensync.redaction import redact, split_userinfo


def connection_params(url: str) -> dict[str, str]:
    """libpq's connection parameters for a postgresql:// URL, or ConfigError (never echoing it).

    The user and password are taken from the URL here, split at the last `@` before the host
    and percent-decoded leniently (a bare `%` stays a `%`): libpq would refuse a bare `%`, or
    split at the first `@` and look up the rest of the password as a host name, and in both
    cases print that part of the password in its error. The rest of the URL (hosts, ports, the
    database, `?sslmode=...`) is libpq's to read.
    """
    userinfo, bare, _ = split_userinfo(url)
    try:
        found = psycopg.conninfo.conninfo_to_dict(bare)
    except psycopg.Error as exc:
        raise ConfigError(f"bad PostgreSQL URL: {redact(str(exc), url)}") from None
    params = {key: str(value) for key, value in found.items() if value is not None}
    if not all(p.strip().isdigit() for p in params.get("port", "5432").split(",")):
        raise ConfigError("bad PostgreSQL URL: a port is not a number")
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        if user:
            params["user"] = unquote(user)
        if colon:
            params["password"] = unquote(password)
    return params

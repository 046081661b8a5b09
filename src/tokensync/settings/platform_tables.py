"""The [platforms.NAME] tables of the config file, with the client credentials from the
environment, made into Platforms (the built-in ones as platforms/catalog.py describes them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tokensync.errors import ConfigError
from tokensync.platforms.catalog import (
    AUTH_METHODS,
    BUILTIN_PLATFORMS,
    Platform,
)
from tokensync.settings.values import (
    check_url,
    typed_value,
)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


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


def _credential(env: Mapping[str, str], name: str, half: str, fallback: str | None) -> str | None:
    for prefix in (name.upper(), fallback):
        if prefix and env.get(f"TOKENSYNC_{prefix}_{half}"):
            return env[f"TOKENSYNC_{prefix}_{half}"]
    return None


def platforms_from(table: Any, env: Mapping[str, str]) -> dict[str, Platform]:
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
        concurrency = typed_value(
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

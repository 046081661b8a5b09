"""`tokens import`: JSON Lines in, encrypted connections out, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tokensync.crypto import Keyring, binding
from tokensync.errors import ImportFormatError
from tokensync.oauth import MAX_EXPIRES_IN
from tokensync.platforms.catalog import Platform
from tokensync.store import NewTokens

_REQUIRED = ("userId", "platform", "accessToken")
_OPTIONAL = (
    "refreshToken",
    "expiresAt",
    "expiresIn",
    "scope",
    "tokenType",
    "refreshTokenExpiresAt",
    "refreshTokenExpiresIn",
    "authorizedAt",
)
# A provider's token response (RFC 6749 5.1), as an OAuth callback receives it, in import terms.
# Anything else in it (an id_token, say) is not tokensync's to keep.
GRANT_FIELDS = {
    "access_token": "accessToken",
    "refresh_token": "refreshToken",
    "expires_in": "expiresIn",
    "scope": "scope",
    "token_type": "tokenType",
    "refresh_token_expires_in": "refreshTokenExpiresIn",
}


def parse_lines(
    lines: Iterable[str], platforms: Mapping[str, Platform], keyring: Keyring, now: datetime
) -> list[NewTokens]:
    """Validate and encrypt every line; the first bad line raises with its number."""
    rows: list[NewTokens] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ImportFormatError(f"line {number}: not valid JSON") from None
        rows.append(_row(f"line {number}", record, platforms, keyring, now))
    return rows


def grant_row(
    user_id: str,
    platform: str,
    grant: Mapping[str, object],
    platforms: Mapping[str, Platform],
    keyring: Keyring,
    now: datetime,
) -> NewTokens:
    """A provider's token response for (user, platform), checked and encrypted as an import
    line would be. `expires_in` may be a numeric string, as some providers send it. The user
    authorised it just now (an OAuth callback), which dates the grant's end on platforms with a
    rule for it."""
    access = grant.get("access_token")
    if not isinstance(access, str) or not access.strip():
        raise ImportFormatError("the grant has no access_token (a non-empty string)")
    record: dict[str, object] = {"userId": user_id, "platform": platform, "authorizedAt": now}
    for name, field in GRANT_FIELDS.items():
        value = grant.get(name)
        if field in ("expiresIn", "refreshTokenExpiresIn"):
            value = _number(value)
        if value is not None:
            record[field] = value
    return _row("the grant", record, platforms, keyring, now)


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value  # refused below, with the field's name
    return value


def _row(
    where: str, record: Any, platforms: Mapping[str, Platform], keyring: Keyring, now: datetime
) -> NewTokens:
    def bad(message: str) -> ImportFormatError:
        return ImportFormatError(f"{where}: {message}")

    if not isinstance(record, dict):
        raise bad("expected a JSON object")
    unknown = sorted(set(record) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise bad(
            f"unknown field(s) {', '.join(unknown)} (fields: {', '.join(_REQUIRED + _OPTIONAL)})"
        )
    for name in _REQUIRED:
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise bad(f"missing field {name} (a non-empty string)")
    for name in ("refreshToken", "scope", "tokenType"):
        if record.get(name) is not None and not isinstance(record[name], str):
            raise bad(f"{name} must be a string")
    user, platform = record["userId"], record["platform"]
    if platform not in platforms:
        raise bad(f"unknown platform {platform!r} (known: {', '.join(sorted(platforms))})")
    refresh = record.get("refreshToken") or None
    grant_end = _expiry(record, now, bad, "refreshTokenExpires")
    authorized = _time(record, "authorizedAt", bad)
    if grant_end is None and authorized is not None and refresh:
        grant_end = platforms[platform].grant_end(authorized)
    return NewTokens(
        user_id=user,
        platform=platform,
        access_token_enc=keyring.encrypt(record["accessToken"], binding(user, platform, "access")),
        refresh_token_enc=(
            keyring.encrypt(refresh, binding(user, platform, "refresh")) if refresh else None
        ),
        token_type=record.get("tokenType") or "Bearer",
        scope=record.get("scope"),
        expires_at=_expiry(record, now, bad, "expires"),
        refresh_token_expires_at=grant_end,
    )


def _expiry(
    record: Mapping[str, Any],
    now: datetime,
    bad: Callable[[str], ImportFormatError],
    prefix: str,
) -> datetime | None:
    at, within = f"{prefix}At", f"{prefix}In"
    if record.get(at) is not None and record.get(within) is not None:
        raise bad(f"give {at} or {within}, not both")
    if record.get(at) is not None:
        return _time(record, at, bad)
    if record.get(within) is not None:
        value = record[within]
        # Up to ten years: a bigger lifetime is not one, and now + it overflows a datetime.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= MAX_EXPIRES_IN
        ):
            raise bad(f"{within} must be a number of seconds")
        return now + timedelta(seconds=value)
    return None


def _time(
    record: Mapping[str, Any], name: str, bad: Callable[[str], ImportFormatError]
) -> datetime | None:
    """An ISO 8601 time field (a datetime when the caller put one there), in UTC."""
    value = record.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        parsed = None
    if not isinstance(parsed, datetime):
        raise bad(f"{name} must be an ISO 8601 time such as 2026-11-28T15:00:00Z")
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)

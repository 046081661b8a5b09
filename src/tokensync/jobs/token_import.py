"""`tokens import`: JSON Lines in, encrypted connections out, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tokensync.crypto import Keyring, binding
from tokensync.errors import ImportFormatError
from tokensync.store import NewTokens

_REQUIRED = ("userId", "platform", "accessToken")
_OPTIONAL = ("refreshToken", "expiresAt", "expiresIn", "scope", "tokenType")


def parse_lines(
    lines: Iterable[str], platforms: Mapping[str, object], keyring: Keyring, now: datetime
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
        rows.append(_row(number, record, platforms, keyring, now))
    return rows


def _row(
    number: int, record: Any, platforms: Mapping[str, object], keyring: Keyring, now: datetime
) -> NewTokens:
    def bad(message: str) -> ImportFormatError:
        return ImportFormatError(f"line {number}: {message}")

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
    return NewTokens(
        user_id=user,
        platform=platform,
        access_token_enc=keyring.encrypt(record["accessToken"], binding(user, platform, "access")),
        refresh_token_enc=(
            keyring.encrypt(refresh, binding(user, platform, "refresh")) if refresh else None
        ),
        token_type=record.get("tokenType") or "Bearer",
        scope=record.get("scope"),
        expires_at=_expiry(record, now, bad),
    )


def _expiry(
    record: Mapping[str, Any], now: datetime, bad: Callable[[str], ImportFormatError]
) -> datetime | None:
    if record.get("expiresAt") is not None and record.get("expiresIn") is not None:
        raise bad("give expiresAt or expiresIn, not both")
    if record.get("expiresAt") is not None:
        value = record["expiresAt"]
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise bad("expiresAt must be an ISO 8601 time such as 2026-11-28T15:00:00Z")
        return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)
    if record.get("expiresIn") is not None:
        value = record["expiresIn"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise bad("expiresIn must be a number of seconds")
        return now + timedelta(seconds=value)
    return None

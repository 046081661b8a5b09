"""`tokens import`: JSON Lines in, encrypted connections out, streamed, all or nothing.

Lines are read as bytes, each bounded, parsed, checked and encrypted one at a time, and handed to
the store as they come (store/importing.py): memory stays flat however long the file. The first
bad line raises with its number, which rolls the whole import back. Nothing a line holds is ever
echoed in a message but its user id and platform: any other field may be a token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import orjson

from tokensync.crypto import Keyring, binding
from tokensync.errors import ImportFormatError
from tokensync.store import NewTokens, Store
from tokensync.store.models import ImportCounts
from tokensync.times import LATEST, describe_range, in_range

# A line holds two tokens of at most 64 KiB each and a few short fields.
MAX_LINE_BYTES = 256 * 1024
# Characters each text field may hold. A user id is part of a unique index (PostgreSQL refuses
# index entries past about 2.7 kB); a token past 64 KiB is no token a provider issues.
LIMITS = {
    "userId": 255,
    "platform": 64,
    "accessToken": 64 * 1024,
    "refreshToken": 64 * 1024,
    "scope": 8 * 1024,
    "tokenType": 64,
}
_REQUIRED = ("userId", "platform", "accessToken")
_OPTIONAL = ("refreshToken", "expiresAt", "expiresIn", "scope", "tokenType")
_FIELDS = frozenset(_REQUIRED + _OPTIONAL)
_TEXT = ("userId", "platform", "accessToken", "scope", "tokenType")
# Stored as written, shown in listings and logs: no control character (NUL breaks PostgreSQL).
_PLAIN = frozenset({"userId", "scope", "tokenType"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BOM = b"\xef\xbb\xbf"


def import_tokens(
    store: Store, stream: BinaryIO, platforms: Mapping[str, object], keyring: Keyring, now: datetime
) -> ImportCounts:
    """Read, check, encrypt and upsert every line of `stream`; all or nothing."""
    return store.upsert_connections(parse_lines(read_lines(stream), platforms, keyring, now), now)


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(number, line) for each line, never reading more than MAX_LINE_BYTES of one."""
    number = 0
    while line := _read_line(stream, number + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            raise ImportFormatError(f"line {number}: longer than {MAX_LINE_BYTES // 1024} KiB")
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        yield number, line


def _read_line(stream: BinaryIO, number: int) -> bytes:
    try:
        return stream.readline(MAX_LINE_BYTES + 1)
    except OSError as exc:
        raise ImportFormatError(
            f"line {number}: cannot read the input ({exc.strerror or type(exc).__name__})"
        ) from None


def parse_lines(
    lines: Iterable[tuple[int, bytes]],
    platforms: Mapping[str, object],
    keyring: Keyring,
    now: datetime,
) -> Iterator[NewTokens]:
    """Check and encrypt each line as it comes; the first bad line raises with its number."""
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # its message says what, never the text itself
            if "UTF-8" in exc.msg:
                raise ImportFormatError(f"line {number}: not UTF-8 text") from None
            raise ImportFormatError(
                f"line {number}: not valid JSON ({exc.msg}, at byte {exc.pos + 1})"
            ) from None
        yield _row(number, record, platforms, keyring, now)


def _row(
    number: int, record: Any, platforms: Mapping[str, object], keyring: Keyring, now: datetime
) -> NewTokens:
    def bad(message: str) -> ImportFormatError:
        return ImportFormatError(f"line {number}: {message}")

    if not isinstance(record, dict):
        raise bad("expected a JSON object")
    if not record.keys() <= _FIELDS:
        unknown = sorted(set(record) - _FIELDS)
        raise bad(
            f"unknown field(s) {', '.join(_shown(u) for u in unknown)} "
            f"(fields: {', '.join(_REQUIRED + _OPTIONAL)})"
        )
    for name in _REQUIRED:
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise bad(f"missing field {name} (a non-empty string)")
    for name in _TEXT:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad(f"{name} must be a string")
        if len(value) > LIMITS[name]:
            raise bad(f"{name} is longer than {LIMITS[name]} characters")
        if name in _PLAIN and _CONTROL.search(value):
            raise bad(f"{name} must not hold control characters (a NUL, a tab, a newline...)")
    user, platform = record["userId"], record["platform"]
    if platform not in platforms:
        raise bad(f"unknown platform {_shown(platform)} (known: {', '.join(sorted(platforms))})")
    keep_refresh = "refreshToken" not in record
    refresh = record.get("refreshToken")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise bad(
            "refreshToken must be a non-empty string, or null to remove the stored one "
            "(leave it out to keep the stored one)"
        )
    if refresh is not None and len(refresh) > LIMITS["refreshToken"]:
        raise bad(f"refreshToken is longer than {LIMITS['refreshToken']} characters")
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
        line=number,
        keep_refresh=keep_refresh,
    )


def _expiry(
    record: Mapping[str, Any], now: datetime, bad: Callable[[str], ImportFormatError]
) -> datetime | None:
    at, seconds = record.get("expiresAt"), record.get("expiresIn")
    if at is not None and seconds is not None:
        raise bad("give expiresAt or expiresIn, not both")
    if at is not None:
        try:
            parsed = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise bad("expiresAt must be an ISO 8601 time such as 2026-11-28T15:00:00Z")
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        try:
            in_utc = parsed.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
            in_utc = None
        if in_utc is None or not in_range(in_utc):
            raise bad(f"expiresAt must be a time {describe_range()}")
        return in_utc
    if seconds is not None:
        longest = (LATEST - now).total_seconds()
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds < longest
        ):
            raise bad(
                f"expiresIn must be a number of seconds from 0 to {int(longest)} "
                f"(an expiry {describe_range()})"
            )
        return now + timedelta(seconds=seconds)
    return None


def _shown(value: object) -> str:
    """A short, printable rendering of a name from the input, for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

"""`tokens import`: JSON Lines in, encrypted connections out, streamed, all or nothing.

Lines are read as bytes, each bounded, parsed, checked and encrypted one at a time, and handed to
the store as they come (store/importing.py): memory stays flat however long the file. The first
bad line raises with its number, which rolls the whole import back. Nothing a line holds is ever
echoed in a message but its user id and platform: any other field may be a token.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import orjson

from tokensync.crypto import Keyring, binding, generate_key
from tokensync.errors import ImportFormatError
from tokensync.oauth.token_endpoint import MAX_EXPIRES_IN
from tokensync.platforms.catalog import Platform
from tokensync.store import NewTokens, Store
from tokensync.store.models import ImportCounts
from tokensync.times import LATEST, describe_range, in_range
from tokensync.token_digests import DigestKeys

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
    "providerUserId": 255,
    "idToken": 64 * 1024,
}
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
    "providerUserId",
    "idToken",
)
_FIELDS = frozenset(_REQUIRED + _OPTIONAL)
_TEXT = ("userId", "platform", "accessToken", "scope", "tokenType", "providerUserId", "idToken")
# Stored as written, shown in listings and logs: no control character (NUL breaks PostgreSQL).
_PLAIN = frozenset({"userId", "scope", "tokenType", "providerUserId"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BOM = b"\xef\xbb\xbf"
# A provider's token response (RFC 6749 5.1), as an OAuth callback receives it, in import terms.
# Of the id_token Google's token endpoint sends (OpenID Connect) only its `sub` is kept
# (providerUserId); anything else in the response is not tokensync's to keep.
GRANT_FIELDS = {
    "access_token": "accessToken",
    "refresh_token": "refreshToken",
    "expires_in": "expiresIn",
    "scope": "scope",
    "token_type": "tokenType",
    "refresh_token_expires_in": "refreshTokenExpiresIn",
    "id_token": "idToken",
}


def import_tokens(
    store: Store,
    stream: BinaryIO,
    platforms: Mapping[str, Platform],
    keyring: Keyring,
    now: datetime,
    progress: Callable[[int], None] = lambda rows: None,
    replaced: Sequence[str] = (),
) -> ImportCounts:
    """Read, check, encrypt and upsert every line of `stream`; all or nothing. `progress` is
    told the count of rows read so far; the grants replaced on the platforms in `replaced` are
    kept to be revoked (refresh/old_grants.py)."""
    rows = parse_lines(read_lines(stream), platforms, keyring, now)
    return store.upsert_connections(_counted(rows, progress), now, replaced)


def _counted(rows: Iterable[NewTokens], progress: Callable[[int], None]) -> Iterator[NewTokens]:
    for count, row in enumerate(rows, start=1):
        progress(count)
        yield row


def check_import(
    stream: BinaryIO,
    platforms: Mapping[str, Platform],
    now: datetime,
    progress: Callable[[int], None] = lambda lines: None,
) -> int:
    """`tokens import --dry-run`: every check of an import (a connection named twice too), with
    no database and no key (a throwaway one encrypts); how many connections it holds."""
    keyring = Keyring([generate_key()], source="a throwaway key")
    first_line: dict[tuple[str, str], int] = {}
    for row in parse_lines(read_lines(stream), platforms, keyring, now):
        pair = (row.user_id, row.platform)
        seen = first_line.setdefault(pair, row.line)
        if seen != row.line:
            raise ImportFormatError(
                f"lines {seen} and {row.line} are both user {row.user_id!r} on {row.platform}: "
                "a file may name each connection once"
            )
        progress(len(first_line))
    return len(first_line)


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
    platforms: Mapping[str, Platform],
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
        yield _row(f"line {number}", record, platforms, keyring, now, line=number)


def grant_row(
    user_id: str,
    platform: str,
    grant: Mapping[str, object],
    platforms: Mapping[str, Platform],
    keyring: Keyring,
    now: datetime,
    provider_user_id: str | None = None,
) -> NewTokens:
    """A provider's token response for (user, platform), checked and encrypted as an import
    line would be. `expires_in` may be a numeric string, as some providers send it; a response
    without a refresh token (Google's, after the first consent) keeps the stored one. The user
    authorised it just now (an OAuth callback), which dates the grant's end on platforms with a
    rule for it. `provider_user_id` (or the `sub` of the response's id_token) names the account."""
    access = grant.get("access_token")
    if not isinstance(access, str) or not access.strip():
        raise ImportFormatError("the grant has no access_token (a non-empty string)")
    record: dict[str, object] = {"userId": user_id, "platform": platform, "authorizedAt": now}
    google = platform in platforms and platforms[platform].issued_by_google
    for name, field in GRANT_FIELDS.items():
        value = grant.get(name)
        if name == "id_token" and not google:
            continue
        if field in ("expiresIn", "refreshTokenExpiresIn"):
            value = _number(value)
        if value is not None and value != "":
            record[field] = value
    if provider_user_id is not None:
        record["providerUserId"] = provider_user_id
    return _row("the grant", record, platforms, keyring, now)


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value  # refused below, with the field's name
    return value


def _row(
    where: str,
    record: Any,
    platforms: Mapping[str, Platform],
    keyring: Keyring,
    now: datetime,
    *,
    line: int = 0,
) -> NewTokens:
    def bad(message: str) -> ImportFormatError:
        return ImportFormatError(f"{where}: {message}")

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
    grant_end = _expiry(record, now, bad, "refreshTokenExpires")
    authorized = _time(record, "authorizedAt", bad)
    if grant_end is None and authorized is not None and refresh:
        grant_end = platforms[platform].grant_end(authorized)
        if grant_end is not None and not in_range(grant_end):
            raise bad(
                f"authorizedAt dates the grant's end past the times stored ({describe_range()})"
            )
    if "idToken" in record and not platforms[platform].issued_by_google:
        raise bad(
            "idToken is read for the platforms whose grants Google issues; give providerUserId"
        )
    digests = None
    if refresh and platforms[platform].issued_by_google:
        digests = DigestKeys(keyring.secrets).of_token(refresh)
    return NewTokens(
        provider_user_id=_account(record, bad),
        refresh_digests=digests,
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
        line=line,
        keep_refresh=keep_refresh,
    )


def _account(record: Mapping[str, Any], bad: Callable[[str], ImportFormatError]) -> str | None:
    """providerUserId, or the `sub` of idToken (an OpenID Connect ID token, as Google's token
    endpoint returns it); both given, they must agree."""
    given = record.get("providerUserId")
    if given is not None and not given.strip():
        raise bad("providerUserId must be a non-empty string")
    id_token = record.get("idToken")
    if id_token is None:
        return given
    try:
        subject = id_token_subject(id_token)
    except ValueError as exc:
        raise bad(f"idToken: {exc}") from None
    if given is not None and given != subject:
        raise bad("providerUserId and the sub of idToken name different accounts")
    return subject


def id_token_subject(id_token: str) -> str:
    """The `sub` claim of a JWT, read without checking its signature: an ID token is taken from
    the token endpoint's answer over TLS (OpenID Connect Core 3.1.3.7), as the tokens beside it
    are. Raises ValueError, never with the token's text."""
    parts = id_token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT (three dot-separated parts)")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, orjson.JSONDecodeError):
        raise ValueError("its claims are not base64url JSON") from None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str) or not subject or len(subject) > LIMITS["providerUserId"]:
        raise ValueError("no sub claim (a string of at most 255 characters)")
    if _CONTROL.search(subject):
        raise ValueError("its sub claim holds control characters")
    return subject


def _expiry(
    record: Mapping[str, Any],
    now: datetime,
    bad: Callable[[str], ImportFormatError],
    prefix: str,
) -> datetime | None:
    at_name, in_name = f"{prefix}At", f"{prefix}In"
    at, seconds = record.get(at_name), record.get(in_name)
    if at is not None and seconds is not None:
        raise bad(f"give {at_name} or {in_name}, not both")
    if at is not None:
        return _time(record, at_name, bad)
    if seconds is not None:
        # Up to ten years (a bigger lifetime is not one), and never past the sane range.
        longest = min(MAX_EXPIRES_IN, (LATEST - now).total_seconds())
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds <= longest
        ):
            raise bad(f"{in_name} must be a number of seconds from 0 to {int(longest)}")
        return now + timedelta(seconds=seconds)
    return None


def _time(
    record: Mapping[str, Any], name: str, bad: Callable[[str], ImportFormatError]
) -> datetime | None:
    """An ISO 8601 time field (a datetime when the caller put one there), in UTC and within the
    sane range."""
    value = record.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        parsed = None
    if not isinstance(parsed, datetime):
        raise bad(f"{name} must be an ISO 8601 time such as 2026-11-28T15:00:00Z")
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
        in_utc = None
    if in_utc is None or not in_range(in_utc):
        raise bad(f"{name} must be a time {describe_range()}")
    return in_utc


def _shown(value: object) -> str:
    """A short, printable rendering of a name from the input, for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

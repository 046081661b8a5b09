"""The grant registry of a strict rotating OAuth provider, and the counters it keeps."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": 'Invalid "refresh_token" in request',
}


def make_tokens(count: int, prefix: str = "rt", seed: int = 0, start: int = 0) -> list[str]:
    """Deterministic, distinct token strings: the same arguments give the same list."""
    return [f"{prefix}-{i:07d}-{_digest(f'{seed}:{prefix}:{i}')}" for i in range(start, count)]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def user_number(text: str) -> int:
    """A stable number from 1 to 2**32 for a user (the same in every process, unlike hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") + 1


@dataclass
class Stats:
    """What the stand-in saw; `/stats` serves these fields as JSON."""

    requests: int = 0
    refreshes: int = 0
    invalid_grant: int = 0
    invalid_client: int = 0
    revoked_grants: int = 0
    reused_tokens: int = 0
    failures_injected: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    grants: int = 0
    api_requests: int = 0
    api_unauthorized: int = 0
    api_failures_injected: int = 0
    api_in_flight: int = 0
    api_max_in_flight: int = 0
    not_modified: int = 0


@dataclass(slots=True)
class Grant:
    """One user's authorization: its current refresh token and the access tokens issued."""

    number: int
    origin: str
    refresh_token: str
    user: int
    generation: int = 0
    revoked: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom an access token belongs to; `user` seeds that user's deterministic data."""

    user: int
    expired: bool = False


class Registry:
    """Grants, their refresh tokens (current and spent) and the access tokens issued."""

    def __init__(
        self, stats: Stats, *, rotate: bool = True, expires_in: int = 3600, scope: str = ""
    ) -> None:
        self.stats = stats
        self.rotate = rotate
        self.expires_in = expires_in
        self.scope = scope
        self._current: dict[str, Grant] = {}
        self._spent: dict[str, Grant] = {}
        self._access: dict[str, tuple[Grant, float]] = {}
        self._origins: dict[str, Grant] = {}
        # Seeding may come from another thread (run_in_thread) while the loop exchanges tokens.
        self._lock = threading.Lock()

    def add_grant(self, refresh_token: str) -> None:
        """A grant whose current refresh token is this one; adding a known token does nothing."""
        with self._lock:
            if refresh_token in self._current or refresh_token in self._spent:
                return
            number = len(self._origins) + 1
            grant = Grant(number, refresh_token, refresh_token, user_number(refresh_token))
            self._current[refresh_token] = grant
            self._origins[refresh_token] = grant
            self.stats.grants += 1

    def add_grants(self, refresh_tokens: Iterable[str]) -> int:
        """Add many grants; return how many exist now."""
        for token in refresh_tokens:
            self.add_grant(token)
        return len(self._origins)

    def exchange(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        """One refresh: (HTTP status, JSON body)."""
        with self._lock:
            spent = self._spent.get(refresh_token)
            if spent is not None:
                # A spent token came back: like Discord, revoke the whole grant.
                self.stats.reused_tokens += 1
                self._revoke(spent)
                return self._invalid_grant()
            grant = self._current.get(refresh_token)
            if grant is None or grant.revoked:
                return self._invalid_grant()
            grant.generation += 1
            self.stats.refreshes += 1
            tag = f"g{grant.number}-v{grant.generation}-{_digest(refresh_token)}"
            access = f"at-{tag}"
            self._access[access] = (grant, time.monotonic() + self.expires_in)
            grant.access_tokens.append(access)
            if len(grant.access_tokens) > 2:
                # Keep the two newest access tokens alive so memory stays bounded.
                self._access.pop(grant.access_tokens.pop(0), None)
            body: dict[str, Any] = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            }
            if self.rotate:
                new = f"rt-{tag}"
                del self._current[refresh_token]
                self._spent[refresh_token] = grant
                self._current[new] = grant
                grant.refresh_token = new
                body["refresh_token"] = new
            body["scope"] = self.scope
            return 200, body

    def caller(self, access_token: str) -> Caller | None:
        """The live grant's user behind an issued access token, or None."""
        entry = self._access.get(access_token)
        if entry is None or entry[0].revoked:
            return None
        grant, expires_at = entry
        return Caller(grant.user, expired=time.monotonic() >= expires_at)

    def current_refresh_token(self, origin: str) -> str | None:
        """The refresh token now valid for the grant seeded with `origin` (None: revoked)."""
        grant = self._origins.get(origin)
        return None if grant is None or grant.revoked else grant.refresh_token

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every grant by its seeded token: current refresh token, revoked, refreshes."""
        with self._lock:
            return {
                origin: {
                    "current": None if grant.revoked else grant.refresh_token,
                    "revoked": grant.revoked,
                    "refreshes": grant.generation,
                }
                for origin, grant in self._origins.items()
            }

    def _revoke(self, grant: Grant) -> None:
        if not grant.revoked:
            grant.revoked = True
            self.stats.revoked_grants += 1

    def _invalid_grant(self) -> tuple[int, dict[str, Any]]:
        self.stats.invalid_grant += 1
        return 400, dict(INVALID_GRANT)


def client_credentials(authorization: str, form: Any) -> tuple[str, str] | None:
    """(client_id, client_secret) from HTTP Basic (preferred) or the form; None if malformed."""
    if authorization[:6].lower() == "basic ":
        try:
            pair = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = pair.partition(":")
        # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
        return (unquote_plus(client_id), unquote_plus(secret)) if colon else None
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if isinstance(client_id, str) and isinstance(secret, str):
        return client_id, secret
    return None

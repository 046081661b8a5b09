"""Google's signing keys for security event tokens: the JWKS at `google_risc_jwks_url`, fetched
when needed and cached in the data directory until the expiry its answer gives
(`Cache-Control: max-age`), so that each `revocations ingest` process does not fetch them again.

A token signed with a key id the cached set does not hold makes one fetch of the set (Google
rotates its keys), and then, still unknown, is refused. The keys are public: the cache file holds
nothing secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from tokensync.errors import ProviderError, TransientError
from tokensync.http import faults, responses
from tokensync.runtime.deps import Deps

_MAX_BODY = 256 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
# Without a max-age, keys are kept this long; never longer than a day whatever the answer says.
DEFAULT_LIFETIME = timedelta(hours=1)
LONGEST_LIFETIME = timedelta(days=1)
WHERE = "google RISC keys (google_risc_jwks_url)"


@dataclass(frozen=True)
class KeySet:
    """The keys of a JWKS by key id, and until when they may be used without asking again."""

    keys: Mapping[str, Mapping[str, Any]]
    expires_at: datetime


async def signing_key(deps: Deps, kid: str) -> Mapping[str, Any] | None:
    """The JWK of this key id: from the cache while it is fresh and holds it; else fetched once
    (and cached). None: the fetched set does not hold it either."""
    url = deps.settings.revocations.google_risc_jwks_url
    path = cache_path(deps)
    now = deps.clock.now()
    cached = _read_cache(path, url)
    if cached is not None and cached.expires_at > now and kid in cached.keys:
        return cached.keys[kid]
    fetched = await fetch_keys(deps, url, now)
    _write_cache(path, url, fetched)
    return fetched.keys.get(kid)


def cache_path(deps: Deps) -> Path:
    """Where the keys are cached: beside the spool, in the data directory."""
    return deps.settings.data_dir / "google-risc-keys.json"


async def fetch_keys(deps: Deps, url: str, now: datetime) -> KeySet:
    """GET the JWKS; a failure to fetch or read it raises a TransientError (nothing verified)."""
    timeout = deps.settings.request_timeout
    try:
        async with (
            asyncio.timeout(timeout * 2),
            deps.http.stream("GET", url, timeout=timeout) as response,
        ):
            body = await responses.read_capped(response, _MAX_BODY, WHERE)
    except ProviderError:
        raise
    except Exception as exc:
        raise faults.transport_error(WHERE, exc) from None
    if response.status_code != 200:
        raise TransientError(f"{WHERE} answered {response.status_code}", code="keys_unavailable")
    return KeySet(_keys_of(body), now + _lifetime(response.headers))


def _keys_of(body: bytes) -> dict[str, Mapping[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise TransientError(
            f"{WHERE} answered something that is not a JWKS", code="keys_unavailable"
        )
    return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


def _lifetime(headers: httpx.Headers) -> timedelta:
    match = _MAX_AGE.search(headers.get("cache-control", ""))
    if match is None:
        return DEFAULT_LIFETIME
    return min(timedelta(seconds=int(match.group(1))), LONGEST_LIFETIME)


def _read_cache(path: Path, url: str) -> KeySet | None:
    try:
        doc = orjson.loads(path.read_bytes())
        if doc["url"] != url:
            return None
        return KeySet(dict(doc["keys"]), datetime.fromisoformat(doc["expiresAt"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: fetched again


def _write_cache(path: Path, url: str, keys: KeySet) -> None:
    """Best effort: a data directory that cannot be written only costs a fetch next time."""
    doc = {"url": url, "expiresAt": keys.expires_at.isoformat(), "keys": dict(keys.keys)}
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(orjson.dumps(doc))
        os.replace(temporary, path)

"""Reading the platforms' rate-limit signals: how long to wait, or None when it is no limit."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from tokensync.http.responses import bounded_wait, retry_after_seconds
from tokensync.jsoncodec import response_json

DEFAULT_WAIT = 60.0
# Quotas that refill daily: there is no point in waiting inside a run.
LONG_WAIT = 3600.0
_GOOGLE_RATE = {"rateLimitExceeded", "userRateLimitExceeded", "concurrentLimitExceeded"}
_GOOGLE_QUOTA = {"quotaExceeded", "dailyLimitExceeded"}


def rate_limit_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the platform asks us to wait, if this response is a rate limit at all."""
    status = response.status_code
    if status not in (403, 429):
        return None
    headers = response.headers
    body = response_json(response)
    if status == 403 and not _is_403_limit(headers, body):
        return None
    if _spotify_quota(body) or _google_reasons(body) & _GOOGLE_QUOTA:
        return LONG_WAIT
    for wait in (
        retry_after_seconds(headers.get("retry-after"), now),
        _discord_body(body),
        _seconds(headers.get("x-ratelimit-reset-after")),
        _github_reset(headers, now),
    ):
        if wait is not None:
            return wait
    return DEFAULT_WAIT


def _is_403_limit(headers: httpx.Headers, body: Any) -> bool:
    if headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers:
        return True  # GitHub primary and secondary limits
    if _google_reasons(body) & (_GOOGLE_RATE | _GOOGLE_QUOTA):
        return True
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("status") == "RESOURCE_EXHAUSTED"


def _google_reasons(body: Any) -> set[str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("errors"), list):
        return set()
    reasons = (e.get("reason") for e in error["errors"] if isinstance(e, dict))
    return {r for r in reasons if isinstance(r, str)}


def _spotify_quota(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("reason") == "QUOTA_EXCEEDED"


def _discord_body(body: Any) -> float | None:
    value = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return bounded_wait(float(value))
    return None


def _github_reset(headers: httpx.Headers, now: float | None) -> float | None:
    if headers.get("x-ratelimit-remaining") != "0":
        return None
    reset = _number(headers.get("x-ratelimit-reset"))  # an epoch time, not a wait
    if reset is None:
        return None
    return bounded_wait(reset - (time.time() if now is None else now))


def _seconds(value: str | None) -> float | None:
    number = _number(value)
    return None if number is None else bounded_wait(number)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None

"""`--ping-url`: tell a healthchecks.io-style monitor that a run started, succeeded or failed.

A ping never fails or delays the job beyond its short timeout. The URL holds a secret (the
check's UUID), so only its host is ever logged.
"""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("tokensync.ping")
MAX_BODY = 100_000
SUFFIX = {"start": "/start", "success": "", "fail": "/fail"}


async def ping(
    client: httpx.AsyncClient,
    url: str,
    event: Literal["start", "success", "fail"],
    body: str | None = None,
    timeout: float = 5.0,
) -> None:
    """POST to url/start, url or url/fail; swallow every failure."""
    target = url.rstrip("/") + SUFFIX[event]
    content = (body or "").encode()[:MAX_BODY]
    try:
        response = await client.post(target, content=content, timeout=timeout)
        if response.status_code >= 400:
            log.warning("ping to %s answered HTTP %s", _host(url), response.status_code)
    except Exception as exc:
        log.warning("ping to %s failed: %s", _host(url), type(exc).__name__)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the ping URL"
